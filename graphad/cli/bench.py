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


def _names(value: str | None) -> list | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@bench.command("detectors")
@click.option("--datasets", default=None,
              help="Comma-separated dataset names (default: every *.npz in "
                   "$GRAPHAD_DATA, bitcoin_alpha and fraud_sample; --quick: disney, "
                   "books, fraud_small).")
@click.option("--detectors", default=None,
              help="Comma-separated detector names (default: all of gae, "
                   "early-iforest, late-iforest, early-ocsvm, early-ae, late-ocsvm, "
                   "late-ae, iforest, lof, "
                   "local-affinity, "
                   "dominant, anomalydae, cola, conad, ocgnn, pygod-gae; named "
                   "only: gae-robust-z, gae-bottleneck, gae-mean).")
@click.option("--seeds", type=int, default=None,
              help="Seeds per seeded detector  [default: 3; --quick: 1]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/bench",
              show_default=True, help="Folder for RESULTS.md, results.csv, summary.csv.")
@click.option("--quick", is_flag=True, help="Small datasets, few epochs, one seed.")
@click.option("--timeout", type=float, default=None,
              help="Seconds per run before it is killed  [default: 1800; --quick: 120]")
@click.option("--threads", type=int, default=None,
              help="torch threads per run  [default: torch's default, the cores]")
@click.option("--resume", is_flag=True,
              help="Keep the finished runs of OUT/results.csv and run only the rest.")
@click.option("--isolation", type=click.Choice(["forkserver", "spawn", "none"]),
              default=None, help="How each run gets a fresh process  "
                                 "[default: forkserver where available]")
def bench_detectors_cmd(datasets: str | None, detectors: str | None, seeds: int | None,
                        out_dir: str, quick: bool, timeout: float | None,
                        threads: int | None, resume: bool, isolation: str | None) -> None:
    """Every detector on every dataset over seeds: AUROC, AUPRC, Recall@k, time, memory
    (and, for graphad's detectors, the AUROC of each score component alone).

    Each run has its own process and timeout; a failed run is a cell of the table,
    not the end of the benchmark. Writes RESULTS.md, results.csv and summary.csv.

    \b
    Example:
        graphad bench detectors --quick --out out/bench-quick
        graphad bench detectors --datasets disney,books --detectors gae,dominant
        graphad bench detectors --out out/bench --resume   # after an interruption
    """
    import shlex

    from ..bench.harness import run_benchmark
    args = ["graphad", "bench", "detectors"]
    for flag, value in (("--datasets", datasets), ("--detectors", detectors),
                        ("--seeds", seeds), ("--out", out_dir), ("--timeout", timeout),
                        ("--threads", threads), ("--isolation", isolation)):
        if value is not None:
            args += [flag, str(value)]
    args += [flag for flag, on in (("--quick", quick), ("--resume", resume)) if on]
    run_benchmark(_names(datasets), _names(detectors), seeds=seeds, out_dir=out_dir,
                  quick=quick, timeout=timeout, isolation=isolation, threads=threads,
                  resume=resume, command=shlex.join(args), echo=click.echo)


@bench.command("feedback")
@click.option("--datasets", default=None,
              help="Comma-separated dataset names (default: fraud_sample, bitcoin_alpha, "
                   "amazon_upu, tolokers, reddit; --quick: fraud_small).")
@click.option("--labels-per-set", "ks", default="5,10,20,50", show_default=True,
              help="Labelled anomalies drawn per run (each with 10 times as many normals).")
@click.option("--seeds", type=int, default=None, help="Seeds  [default: 3; --quick: 1]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              default="out/bench-feedback", show_default=True,
              help="Folder for FEEDBACK.md, feedback.csv, feedback_summary.csv, "
                   "feedback.png.")
@click.option("--quick", is_flag=True, help="A small generated graph, few epochs, one seed.")
def bench_feedback_cmd(datasets: str | None, ks: str, seeds: int | None, out_dir: str,
                       quick: bool) -> None:
    """AUROC with a few labelled anomalies: graphad's feedback against logistic
    regression and gradient boosting on the early-fusion features, same labels, same
    evaluation nodes (the unlabelled ones).

    \b
    Example:
        graphad bench feedback --out benchmarks/feedback
        graphad bench feedback --datasets bitcoin_alpha --labels-per-set 5,20 --seeds 1
    """
    import shlex

    from ..bench.feedback import run_feedback_benchmark
    from ..errors import GraphadError
    try:
        k_values = [int(v) for v in ks.split(",") if v.strip()]
    except ValueError as exc:
        raise GraphadError(f"--labels-per-set expects integers, got {ks!r}") from exc
    if not k_values or min(k_values) < 1:
        raise GraphadError(f"--labels-per-set expects positive integers, got {ks!r}")
    seeds = seeds if seeds is not None else (1 if quick else 3)
    args = ["graphad", "bench", "feedback", "--labels-per-set", ks, "--seeds", str(seeds),
            "--out", out_dir] + (["--datasets", datasets] if datasets else []) \
        + (["--quick"] if quick else [])
    summary = run_feedback_benchmark(_names(datasets), k_values, seeds=seeds,
                                     out_dir=out_dir, quick=quick,
                                     command=shlex.join(args), echo=click.echo)
    click.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@bench.command("transfer")
@click.option("--users", type=int, default=None,
              help="Users per draw  [default: 3000; --quick: 300]")
@click.option("--seeds", type=int, default=None, help="Detector seeds  [default: 3; --quick: 1]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              default="out/bench-transfer", show_default=True,
              help="Folder for TRANSFER.md, transfer.csv, transfer_summary.csv.")
@click.option("--quick", is_flag=True, help="300 users, fast encoders, one seed.")
def bench_transfer_cmd(users: int | None, seeds: int | None, out_dir: str,
                       quick: bool) -> None:
    """A fitted model scoring a new draw of the tables it was fitted on: the share of
    each type flagged at the training threshold and the AUROC of the new users, with
    held-out calibration (holdout=0.2, the default) and without (holdout=0), against a
    model fitted on the new draw.

    \b
    Example:
        graphad bench transfer --out benchmarks/transfer
        graphad bench transfer --quick
    """
    import shlex

    from ..bench.transfer import run_transfer_benchmark
    users = users if users is not None else (300 if quick else 3000)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    args = ["graphad", "bench", "transfer", "--users", str(users), "--seeds", str(seeds),
            "--out", out_dir] + (["--quick"] if quick else [])
    summary = run_transfer_benchmark(users, seeds, out_dir=out_dir, quick=quick,
                                     command=shlex.join(args), echo=click.echo)
    click.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@bench.command("robustness")
@click.option("--datasets", default=None,
              help="Comma-separated dataset names with modalities (default: fraud_sample; "
                   "--quick: fraud_small).")
@click.option("--detectors", default=None,
              help="Comma-separated registry names (default: every registered detector; "
                   "--quick: gae, early-iforest, late-iforest).")
@click.option("--seeds", type=int, default=None, help="Seeds  [default: 3; --quick: 1]")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              default="out/bench-robustness", show_default=True,
              help="Folder for ROBUSTNESS.md, robustness.csv, robustness_summary.csv, "
                   "robustness.png.")
@click.option("--quick", is_flag=True,
              help="A small generated graph, one level per perturbation, few epochs.")
@click.option("--resume", is_flag=True,
              help="Keep the finished runs of an earlier robustness.csv in --out.")
def bench_robustness_cmd(datasets: str | None, detectors: str | None, seeds: int | None,
                         out_dir: str, quick: bool, resume: bool) -> None:
    """AUROC of every detector when modalities go missing (10 / 30 / 50 % of each),
    get noisy (0.5 / 1 / 2 std on 30 % of the observations) or are re-attached to
    the wrong entity (10 / 30 %); per anomaly type and for the misaligned entities.

    \b
    Example:
        graphad bench robustness --out benchmarks/robustness
        graphad bench robustness --quick --out /tmp/robustness
    """
    import shlex

    from ..bench.robustness import run_robustness_benchmark
    seeds = seeds if seeds is not None else (1 if quick else 3)   # shown in the command
    args = ["graphad", "bench", "robustness", "--seeds", str(seeds), "--out", out_dir] \
        + (["--datasets", datasets] if datasets else []) \
        + (["--detectors", detectors] if detectors else []) + (["--quick"] if quick else [])
    summary = run_robustness_benchmark(_names(datasets), _names(detectors), seeds=seeds,
                                       out_dir=out_dir, quick=quick, resume=resume,
                                       command=shlex.join(args), echo=click.echo)
    click.echo(summary[["dataset", "kind", "target", "level", "detector", "auroc"]]
               .to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@bench.command("scale")
@click.option("--users", default=None,
              help="Comma-separated graph sizes in users (default: 10000,20000,40000; "
                   "--quick: 300,600).")
@click.option("--epochs", type=int, default=None,
              help="Training epochs of the default detector  [default: 50; --quick: 3]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/bench-scale",
              show_default=True, help="Folder for SCALE.md and scale.csv.")
@click.option("--quick", is_flag=True, help="Two small graphs, three epochs.")
def bench_scale_cmd(users: str | None, epochs: int | None, seed: int, out_dir: str,
                    quick: bool) -> None:
    """Build, fit and score time, peak memory, scoring rows/s and AUROC of the default
    detector on synthetic typed fraud graphs of growing size, and the log-log slope of
    time against edges.

    \b
    Example:
        graphad bench scale --users 10000,20000,40000 --out benchmarks/scale
    """
    from ..bench.scale import run_scale_benchmark, slope
    from ..errors import GraphadError
    try:
        sizes = [int(v) for v in users.split(",") if v.strip()] if users else None
    except ValueError as exc:
        raise GraphadError(f"--users expects integers, got {users!r}") from exc
    rows = run_scale_benchmark(sizes, epochs, seed=seed, out_dir=out_dir, quick=quick,
                               echo=click.echo)
    click.echo(f"log-log slope of time against edges: {slope(rows):.2f}")
