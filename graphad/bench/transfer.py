"""The transfer benchmark: a fitted model scoring tables it was not fitted on.

A model is fitted on one draw of the fraud generator
(:func:`~graphad.datasets.fraud.make_fraud_network`, generator seed 0) and scores a
second draw of the same generator (generator seed 1: other users, nothing shifted),
featurised with the first draw's fitted transforms, as ``graphad score --model`` does.
Measured per detector seed and ``holdout`` (the default, and 0: calibration on the
training nodes alone):

* ``flagged:<type>``: the share of each node type of the new draw above the training
  threshold (``contamination`` of each type on the training graph; a model whose
  threshold carries over flags about as many);
* ``auroc_transfer``: AUROC of the new draw's users under the fitted model;
* ``auroc_fresh``: the same users under a default model fitted on the new draw itself.

Writes ``transfer.csv`` (one row per run), ``transfer_summary.csv`` (mean over seeds)
and ``TRANSFER.md``.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import pandas as pd

HOLDOUTS = (0.2, 0.0)
TRAIN_DRAW, NEW_DRAW = 0, 1


def _draw(n_users: int, seed: int, quick: bool, fitted=None) -> Tuple[object, pd.DataFrame]:
    """``(bundle, labels)`` of one draw of the generator; ``quick``: fast encoders."""
    from ..data.build import build_graph
    from ..datasets.fraud import make_fraud_network
    from .harness import PixelImageEncoder
    encoders = ({"review": {"name": "tfidf", "dim": 32}, "photo": PixelImageEncoder()}
                if quick else None)
    with tempfile.TemporaryDirectory(prefix="graphad_transfer_") as tmp:
        net = make_fraud_network(n_users=n_users, seed=seed, image_dir=Path(tmp) / "images")
        bundle = build_graph(net.tables, net.schema, base_dir=net.root, fitted=fitted,
                             use_cache=not quick, encoders=encoders)
    return bundle, net.labels


def _user_auroc(bundle, labels: pd.DataFrame, scores) -> float:
    from ..metrics import evaluate
    users = labels[labels["node_type"] == "user"].set_index("id")["label"]
    y = users.reindex(bundle.ids.ids("user")).fillna(0).to_numpy().astype(int)
    return float(evaluate(y, scores["user"].numpy())["auroc"])


def run_transfer_benchmark(n_users: int = 3000, seeds: int = 3,
                           holdouts: Sequence[float] = HOLDOUTS,
                           out_dir: Optional[str] = None, quick: bool = False,
                           command: str = "",
                           echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Run the benchmark (see the module docstring); returns the summary (mean over
    seeds per ``holdout``) and writes the files where ``out_dir`` is given."""
    from ..detectors.gae import MultimodalGAE
    train, _ = _draw(n_users, TRAIN_DRAW, quick)
    new, labels = _draw(n_users, NEW_DRAW, quick, fitted=train)
    rows: List[dict] = []
    for seed in range(seeds):
        start = time.perf_counter()
        fresh = MultimodalGAE(seed=seed).fit(new)
        auroc_fresh = _user_auroc(new, labels, fresh.decision_scores_)
        for holdout in holdouts:
            det = MultimodalGAE(seed=seed, holdout=holdout).fit(train)
            scores = det.decision_function(new)
            row = {"holdout": holdout, "seed": seed}
            row.update({f"flagged:{t}": float((s > det.threshold_[t]).float().mean())
                        for t, s in scores.items()})
            row["auroc_transfer"] = _user_auroc(new, labels, scores)
            row["auroc_fresh"] = auroc_fresh
            rows.append(row)
            echo(f"holdout {holdout:g} seed {seed}: users flagged "
                 f"{row['flagged:user']:.2f}, AUROC {row['auroc_transfer']:.3f} "
                 f"(fresh fit {auroc_fresh:.3f})")
        echo(f"  seed {seed}: {time.perf_counter() - start:.1f} s")
    runs = pd.DataFrame(rows)
    summary = runs.drop(columns="seed").groupby("holdout", sort=False).mean().reset_index()
    if out_dir is not None:
        _write(Path(out_dir), runs, summary, n_users, quick, command)
    return summary


def _write(out: Path, runs: pd.DataFrame, summary: pd.DataFrame, n_users: int,
           quick: bool, command: str) -> None:
    from ..data.io import atomic_write_text
    from .report import _table, environment
    env = environment()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "transfer.csv", runs.to_csv(index=False))
    atomic_write_text(out / "transfer_summary.csv", summary.to_csv(index=False))
    lines = _table(list(summary.columns),
                   [[f"{v:.3f}" for v in r] for r in summary.itertuples(index=False)])
    text = "\n".join([
        "# graphad transfer benchmark", "",
        f"Command: `{command}`", "",
        f"- Date: {env['date']}; graphad git {env['git']}; {env['nproc']} CPU cores, "
        f"{env['ram']} RAM; torch {env.get('torch', '?')}", "",
        f"A default `MultimodalGAE` fitted on a draw of the fraud generator ({n_users} "
        f"users, generator seed {TRAIN_DRAW}{', fast encoders' if quick else ''}) "
        f"scores a second draw (generator seed {NEW_DRAW}), featurised with the first "
        "draw's transforms. `flagged:<type>`: share of the new draw above the training "
        "threshold (10% of each type on the training graph); `auroc_transfer`: its "
        "users' AUROC under that model; `auroc_fresh`: under a default model fitted on "
        f"the new draw. Mean over {runs['seed'].nunique()} detector seed(s).", "",
        *lines, ""])
    atomic_write_text(out / "TRANSFER.md", text)
