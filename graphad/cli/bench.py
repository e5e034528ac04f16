"""``graphad bench ...``: measured speed and quality."""
from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Benchmarks (speed of encoders; detectors against their peers)."""


@bench.command("encoders")
@click.option("--texts", default=256, show_default=True, help="Texts to embed.")
@click.option("--images", default=128, show_default=True, help="Images to embed.")
def bench_encoders_cmd(texts: int, images: int) -> None:
    """Texts/s and images/s, cold and cached, on this machine.

    \b
    Example:
        graphad bench encoders --texts 512 --images 256
    """
    from ..bench.encoders import bench_encoders, format_bench
    click.echo(format_bench(bench_encoders(n_texts=texts, n_images=images)))
