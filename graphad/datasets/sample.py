"""The embedded sample: ``datasets/fraud_sample`` (Parquet tables, PNG photos, schema).

``python -m graphad.datasets.sample`` regenerates it deterministically (3,000 users,
seed 0); ``--out``, ``--n-users``, ``--seed`` and ``--anomaly-rate`` change that.
:func:`load_fraud_sample` reads it back as a :class:`~graphad.datasets.fraud.FraudNetwork`.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import pandas as pd
import yaml

from ..data.io import atomic_write_parquet, atomic_write_text
from ..errors import GraphadError
from .fraud import (ANOMALY_TYPES, CATEGORIES, FraudNetwork, make_fraud_network,
                    tidy_optional_strings)

__all__ = ["save_fraud_sample", "load_fraud_sample", "default_sample_path"]

PathLike = Union[str, Path]
IMAGE_DIR = "images"
_PNG_NAME = re.compile(r"^p\d+\.png$")


def default_sample_path() -> Path:
    """``$GRAPHAD_SAMPLE`` if set, else the repository's ``datasets/fraud_sample``."""
    env = os.environ.get("GRAPHAD_SAMPLE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "datasets" / "fraud_sample"


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_parquet(path, frame, compression="zstd")


def _write_text(text: str, path: Path) -> None:
    atomic_write_text(path, text)


def save_fraud_sample(out_dir: PathLike, n_users: int = 3000, seed: int = 0,
                      anomaly_rate: float = 0.05) -> FraudNetwork:
    """Generate a fraud network and write it to ``out_dir``.

    Writes ``<table>.parquet`` for every table, ``labels.parquet``, ``profiles.parquet``
    (hidden per-user truth), ``images/<photo_id>.png``, ``schema.yaml`` (with ``tables``
    entries naming the Parquet files), ``meta.json`` and the dataset card ``README.md``.
    Stale photo files from an earlier run are removed first.

    Returns:
        the network, with ``root`` = ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image_dir = out / IMAGE_DIR
    if image_dir.is_dir():
        for f in image_dir.iterdir():
            if f.is_file() and _PNG_NAME.match(f.name):
                f.unlink()
    net = make_fraud_network(n_users=n_users, seed=seed, anomaly_rate=anomaly_rate,
                             image_dir=image_dir)
    for name, frame in net.tables.items():
        _write_parquet(frame, out / f"{name}.parquet")
    _write_parquet(net.labels, out / "labels.parquet")
    _write_parquet(net.profiles, out / "profiles.parquet")
    schema = dict(net.schema)
    schema["tables"] = {name: f"{name}.parquet" for name in net.tables}
    _write_text(yaml.safe_dump(schema, sort_keys=False), out / "schema.yaml")
    _write_text(json.dumps(net.config, indent=2) + "\n", out / "meta.json")
    _write_text(dataset_card(net, out), out / "README.md")
    net.root = out.resolve()
    return net


def load_fraud_sample(path: Optional[PathLike] = None) -> FraudNetwork:
    """Read a sample written by :func:`save_fraud_sample`.

    Args:
        path: the sample folder; default :func:`default_sample_path` (``$GRAPHAD_SAMPLE``
            or the repository's ``datasets/fraud_sample``).

    Returns:
        FraudNetwork whose ``schema['tables']`` holds absolute Parquet paths and whose
        ``root`` is the folder (``photos.path`` is relative to it).
    """
    root = Path(path) if path is not None else default_sample_path()
    schema_file = root / "schema.yaml"
    if not schema_file.is_file():
        raise GraphadError(f"no fraud sample at {root} (missing schema.yaml); create it "
                           "with `python -m graphad.datasets.sample --out DIR`")
    schema = yaml.safe_load(schema_file.read_text())
    files: Dict[str, str] = dict(schema.get("tables") or {})
    tables = {name: pd.read_parquet(root / rel) for name, rel in files.items()}
    schema["tables"] = {name: str((root / rel).resolve()) for name, rel in files.items()}
    labels = tidy_optional_strings(pd.read_parquet(root / "labels.parquet"),
                                   ["group_id", "category"])
    profiles = tidy_optional_strings(pd.read_parquet(root / "profiles.parquet"),
                                     ["photo_category", "text_category"])
    meta = root / "meta.json"
    config = json.loads(meta.read_text()) if meta.is_file() else {}
    root = root.resolve()
    images = {str(pid): (root / p).resolve()
              for pid, p in zip(tables["photos"]["photo_id"], tables["photos"]["path"])}
    return FraudNetwork(tables=tables, schema=schema, labels=labels,
                        images=dict(sorted(images.items())), root=root,
                        profiles=profiles, config=config)


# ---------------------------------------------------------------- dataset card
def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def dataset_card(net: FraudNetwork, out: Optional[Path] = None) -> str:
    """The README.md of a saved sample: tables, columns, generation, label counts."""
    t = net.tables
    lab = net.labels
    users = lab[lab["node_type"] == "user"]
    counts = net.anomaly_counts()
    groups = users.dropna(subset=["group_id"]).groupby("group_id").size()
    ring_sizes = ", ".join(str(v) for k, v in groups.items() if k.startswith("ring_"))
    farm_sizes = ", ".join(str(v) for k, v in groups.items() if k.startswith("farm_"))
    farm_kinds = "; ".join(
        f"{g}: {d.split('(')[1].split(' ', 1)[1].rstrip(')')}" for g, d in
        users[users["anomaly_type"] == "farm"].groupby("group_id")["detail"].first().items())
    cross = users[users["anomaly_type"] == "cross_modal"]["detail"]
    n_tp = int(cross.str.startswith("text_photo").sum())
    n_ts = int(cross.str.startswith("text_series").sum())
    attr = users[users["anomaly_type"] == "attribute"]["detail"].str.split(":").str[0]
    attr_txt = ", ".join(f"{k} {v}" for k, v in attr.value_counts().sort_index().items())
    pos = lab[(lab["label"] == 1) & (lab["node_type"] != "user")]
    other = pos.groupby(["node_type", "anomaly_type"]).size()
    other_rows = "\n".join(f"| {nt} | {at} | {c} |" for (nt, at), c in other.items())
    cfg = net.config
    n_users = len(t["users"])
    rows = "\n".join(f"| `{name}` | {len(frame):,} |" for name, frame in t.items())
    total = users["label"].sum()
    size_line = ""
    if out is not None:
        size = sum(f.stat().st_size for f in out.rglob("*")
                   if f.is_file() and f.name != "README.md")
        size_line = (f"\nTotal size: about {size / 1e6:.1f} MB "
                     f"({len(net.images):,} PNG files of 32x32 pixels).\n")
    cats = ", ".join(f"{k} = {c}" for k, c in enumerate(CATEGORIES))
    return f"""# fraud_sample: a synthetic multimodal fraud network

A labelled, heterogeneous, multimodal user network for testing graphad: {n_users:,}
user accounts with devices, merchants, payments, follows, reviews (text), profile
photos (images) and daily spending series, of which {total} ({total / n_users:.1%}) are
planted fraudsters of five kinds. Everything is synthetic: no real person or company.
Generated by `graphad.datasets.make_fraud_network(n_users={cfg.get('n_users')},
seed={cfg.get('seed')}, anomaly_rate={cfg.get('anomaly_rate')})`.

Regenerate (deterministic, a few seconds):

```
python -m graphad.datasets.sample            # writes datasets/fraud_sample/
python -m graphad.datasets.sample --out DIR --n-users 3000 --seed 0
```

Load: `graphad.datasets.load_fraud_sample()` (or set `GRAPHAD_SAMPLE=DIR`); build the
graph with `graphad.data.build_graph(net.tables, net.schema, base_dir=net.root)` or
`net.build_graph()`. `schema.yaml` also works on its own: its `tables` entries name the
Parquet files next to it, and photo paths are relative to this folder.
{size_line}
## Tables

| table | rows |
| --- | ---: |
{rows}

Graph (see `schema.yaml`): node types `user`, `device`, `merchant` (entities) and
`review` (text), `photo` (image), `spend` (series) (observations); relations
`user -uses-> device`, `user -pays-> merchant` (edge attributes amount, time),
`user -follows-> user`, `user -wrote-> review`, `review -about-> merchant` (rating),
`user -has_photo-> photo`, `user -has_series-> spend`.

| table | column | meaning |
| --- | --- | --- |
| users | user_id | `u00001`... |
| | age | years, 18-90; depends on the user's main interest (gamers younger, luxury buyers older) |
| | account_age_days | days since signup at the snapshot (2024-07-01 UTC); 10% new (< 91 days) |
| | balance | account balance, log-normal with Student-t (heavy) tails; grows with age and tenure |
| | n_logins_30d | logins in the last 30 days, negative binomial; more for young, gamers, new accounts |
| | country | 12 countries; communities have a home country |
| | signup_channel | organic / referral / paid_ads / partner / app_store, age dependent |
| devices | device_id, os, device_type | phones (ios / android by country), laptops, shared household desktops and tablets |
| user_device | user_id, device_id | households of 1-4 users in one community often share a desktop or tablet |
| merchants | merchant_id, category, country | category is one of the 10 product categories; popularity is Pareto |
| payments | user_id, merchant_id, amount, time | platform payments (unix seconds); a user-specific share (Beta(3,6)) of the user's purchases, mostly at favourite merchants of the purchase's category |
| follows | src_user, dst_user | directed; degree-heterogeneous stochastic block model (80% inside the user's community), 25% reciprocated |
| reviews | review_id, user_id, merchant_id, rating, text | 0-3 reviews per user; the text is composed from many templates, product nouns, aspects and sentiment words of one category, with typos, lower-casing and chat abbreviations; the rating (J-shaped 1-5) sets the sentiment |
| photos | photo_id, path | 32x32 RGB PNG under `images/`; path relative to this folder |
| user_photo | user_id, photo_id | 85% of users have one photo, 5% two, 10% none |
| series | series_id, user_id | one daily spending series per user |
| transactions | series_id, ts, amount, n_tx | one row per user per day (unix seconds of 00:00 UTC): total spent and number of purchases; zeros kept; 60-90 days (shorter for accounts younger than that) |

Extra files: `labels.parquet` (ground truth), `profiles.parquet` (hidden per-user
truth: community, household, primary / secondary interest and the category shown by the
user's photo, reviews and spending), `meta.json` (generation parameters).

## How it is generated

Product categories (index = digit class in photos): {cats}.

Users belong to communities (stochastic blocks) with a home country and a community-level
mix of interests; each user has a primary and a secondary category. The categories tie the
modalities together: reviews are 85% about the primary category, photos show the digit
of the primary category (92%; else the secondary) in a hue of that category over a blurred
crop of a scikit-learn sample photo, and the daily spending series is a sum of Poisson
purchases whose rate, amount (log-normal per category) and weekly shape (e.g. groceries
peak on Saturdays, travel is booked on Thursdays and Fridays) come from the primary and
secondary categories plus everyday groceries. 8% of normal users have one shopping-spree
day, and 1% are very new accounts, so neither bursts nor new accounts alone mean fraud.
Photos are real digits from `sklearn.datasets.load_digits` (upscaled, shifted, rotated,
tinted) over crops of `sklearn.datasets.load_sample_images`.

## Planted anomalies

Each anomalous user has exactly one type; types are split evenly (`anomaly_rate` / 5 of
the users each).

| type | users | what |
| --- | ---: | --- |
| attribute | {counts['attribute']} | contextual outliers ({attr_txt}): each value lies within the normal range (balances and login counts are drawn from the top quantiles of normal users) but the combination is rare |
| ring | {counts['ring']} | collusion rings of {ring_sizes} users: ~75% of ordered member pairs follow each other (across communities) and every member pays the ring's shell merchant (often offshore) and 1-2 existing merchants 3-8 times with round amounts (490-1,990) |
| farm | {counts['farm']} | device farms of {farm_sizes} accounts ({farm_kinds}; one country and signup channel, small balances, frequent logins, little spending), all on one emulator phone (sometimes a second one for half of them), all with one identical photo, writing near-duplicate five-star spam for the farm's client merchants and following its client accounts |
| cross_modal | {counts['cross_modal']} | {n_tp} `text_photo`: every review is about a category different from the photo and the spending; {n_ts} `text_series`: reviews and photo about luxury / travel / electronics while the spending series is flat and tiny (groceries / books) |
| burst | {counts['burst']} | 10-28 purchases of gift cards, electronics or luxury (median 250) within about a day; 85% of them are platform payments, so the user's payments cluster in time |

### labels.parquet

One row per node of every type: `node_type` (user, device, merchant, review, photo,
spend), `id`, `label` (1 = part of a planted anomaly), `anomaly_type` (`none` or one of
the five), `group_id` (`ring_k` / `farm_k`, else missing), `category` (ground-truth
product category: user = primary interest, merchant = its category, review = its topic,
photo = the digit shown, spend = the category driving the spending; missing for devices)
and `detail` (a sentence about the anomaly). Label 1 besides users:

| node_type | anomaly_type | nodes |
| --- | --- | ---: |
{other_rows}

(the farms' devices and shared photos, the rings' shell merchants, farm spam reviews,
the contradicting reviews of `text_photo` users, burst series and the flat series of
`text_series` users). Evaluate users with `labels[labels.node_type == "user"]`.
"""


# ---------------------------------------------------------------- CLI
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graphad.datasets.sample",
        description="Regenerate the embedded multimodal fraud sample.")
    parser.add_argument("--out", default=None,
                        help="output folder (default: the repository's "
                             "datasets/fraud_sample)")
    parser.add_argument("--n-users", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anomaly-rate", type=float, default=0.05)
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parents[2] / "datasets" / "fraud_sample")
    net = save_fraud_sample(out, n_users=args.n_users, seed=args.seed,
                            anomaly_rate=args.anomaly_rate)
    counts = ", ".join(f"{k} {v}" for k, v in net.anomaly_counts().items())
    print(f"wrote {out}: {len(net.tables['users'])} users ({counts}), "
          f"{_size(out) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
