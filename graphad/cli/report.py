"""``graphad report``: one static HTML page of the most suspicious entities."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from .model import build_from_schema, model_option, schema_option, tables_option, _load
from .output import note


@click.command()
@model_option
@schema_option
@tables_option
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="HTML file to write (figures embedded; opens without network).")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1),
              help="Entities listed, each with its explanation and evidence.")
@click.option("--subgraphs", "n_subgraphs", default=5, show_default=True,
              type=click.IntRange(min=0), help="Suspicious groups drawn (0: none).")
@click.option("--type", "node_types", multiple=True,
              help="Entity type(s) to rank (repeatable; default: every entity type).")
@click.option("--title", default="graphad report", show_default=True)
def report(model_path: str, schema_path: str, tables_dir: Optional[str], out_path: str,
           top: int, n_subgraphs: int, node_types: Tuple[str, ...], title: str) -> None:
    """Write an HTML report: summary, score distribution, the top entities with their
    explanation and evidence (texts, photos, series against peers), the top groups.

    \b
    Example:
        graphad report --model out/model --schema datasets/fraud_sample/schema.yaml \\
            --out report.html --top 50
    """
    import time

    from ..data.io import check_writable
    from ..errors import GraphadError
    from ..viz.report import write_report
    if not out_path.lower().endswith((".html", ".htm")):
        raise GraphadError(f"--out {out_path}: the report is HTML; name it .html")
    check_writable(out_path)                     # fail before any work
    det = _load(model_path)
    bundle = build_from_schema(schema_path, tables_dir, fitted=det)
    started = time.perf_counter()
    write_report(out_path, bundle, det, top=top, subgraphs=n_subgraphs,
                 node_types=list(node_types) or None, title=title)
    note(f"wrote a report of the top {top} entities to {out_path} in "
         f"{time.perf_counter() - started:.1f}s")
