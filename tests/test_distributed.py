"""Data-parallel training under torchrun (2 CPU processes, gloo): it completes, only
rank 0 writes the model, and the model scores like one trained in a single process."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import yaml
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from graphad.detectors import distributed
from graphad.detectors.persistence import load_detector

N_USERS, N_PLANTED = 600, 12


def _tables(root):
    """600 users (age, balance) on 150 devices; the first 12 have an age and a balance
    far from everyone's."""
    rng = np.random.default_rng(0)
    root.mkdir()
    age = rng.normal(40, 8, N_USERS)
    balance = rng.lognormal(5, 0.5, N_USERS)
    age[:N_PLANTED], balance[:N_PLANTED] = 140.0, 1e5
    pd.DataFrame({"user_id": [f"u{i}" for i in range(N_USERS)], "age": age,
                  "balance": balance}).to_parquet(root / "users.parquet")
    pd.DataFrame({"device_id": [f"d{i}" for i in range(150)]}).to_parquet(
        root / "devices.parquet")
    pd.DataFrame({"user_id": [f"u{i}" for i in range(N_USERS)] * 2,
                  "device_id": [f"d{i}" for i in rng.integers(0, 150, 2 * N_USERS)]}
                 ).to_parquet(root / "uses.parquet")
    schema = {"nodes": {"user": {"table": "users", "id": "user_id",
                                 "numeric": ["age", "balance"]},
                        "device": {"table": "devices", "id": "device_id"}},
              "relations": [{"src": "user", "rel": "uses", "dst": "device", "table": "uses",
                             "src_key": "user_id", "dst_key": "device_id"}],
              "tables": {"users": "users.parquet", "devices": "devices.parquet",
                         "uses": "uses.parquet"}}
    (root / "schema.yaml").write_text(yaml.safe_dump(schema))
    return root / "schema.yaml"


def _fit_args(schema, out):
    return ["fit", "--schema", str(schema), "--out", str(out), "--epochs", "4",
            "--param", "hidden=16"]


def _run(cmd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _user_scores(model, bundle):
    det = load_detector(model)
    return det.decision_function(bundle)["user"].numpy(), det


def test_torchrun_two_processes_train_a_model_that_scores_like_one(tmp_path):
    from graphad.cli.model import build_from_schema
    schema = _tables(tmp_path / "data")
    single, parallel = tmp_path / "single", tmp_path / "ddp"
    _run([sys.executable, "-m", "graphad", *_fit_args(schema, single)])
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc_per_node", "2", "-m", "graphad", *_fit_args(schema, parallel)])
    assert "on 2 processes" in proc.stderr + proc.stdout
    bundle = build_from_schema(str(schema))
    s1, det1 = _user_scores(single, bundle)
    s2, det2 = _user_scores(parallel, bundle)
    # trained on mini-batches of each process's seeds, scored full-batch like det1
    assert det2.batch_size_ is None and det1.batch_size_ is None
    assert set(det2.score_edges(bundle)) == set(det1.score_edges(bundle))
    assert len(det2.loss_history_) == 4 and det2.loss_history_[-1] < det2.loss_history_[0]
    y = np.zeros(N_USERS, dtype=int)
    y[:N_PLANTED] = 1
    auc1, auc2 = roc_auc_score(y, s1), roc_auc_score(y, s2)
    assert auc2 > 0.95 and abs(auc1 - auc2) < 0.03
    rho = spearmanr(s1, s2).statistic
    print(f"AUROC single {auc1:.3f} torchrun {auc2:.3f}; Spearman {rho:.3f}")
    assert rho > 0.8
    # each process trained on mini-batches of half the seeds: not the single model
    assert not np.allclose(s1, s2)


def test_outside_a_process_group_nothing_is_shared():
    import torch
    assert not distributed.active()
    assert distributed.rank_and_world() == (0, 1)
    seeds = torch.arange(5)
    assert distributed.seed_share(seeds).tolist() == [0, 1, 2, 3, 4]
    assert distributed.mean_over_processes(2.5) == 2.5
    with distributed.process_group_from_env() as parallel:
        assert parallel is False
