"""A synthetic, labelled, multimodal fraud network.

:func:`make_fraud_network` simulates a small payments / social platform: users with
profile attributes, the devices they log in from (shared within households), merchants
they pay, whom they follow, the reviews they write, their profile photos and their
daily spending series. A few percent of users are then turned into fraudsters of five
kinds, each a pattern a fraud analyst would recognise:

``attribute``
    contextual outliers: a combination of profile values that is rare although each
    value alone is ordinary (a 5-day-old account holding a top-2% balance, a
    teenager with a whale balance, an 80-year-old logging in like a bot).
``ring``
    collusion rings of 6-15 users who densely follow each other (across communities)
    and all pay the same few merchants, one of them a shell merchant, with round,
    unusually large amounts.
``farm``
    device farms: 8-20 accounts (a fresh batch created within days, or bought aged
    accounts) on one or two emulator devices, sharing one identical profile photo,
    writing near-duplicate five-star reviews for the farm's client merchants and
    following its client accounts.
``cross_modal``
    observations of one account contradict each other: the reviews are about a
    different product category than the photo and the spending (``text_photo``), or
    the reviews and photo show luxury / travel / electronics while the spending series
    is flat and tiny (``text_series``).
``burst``
    a sudden burst of 10-28 high-value transactions (gift cards, electronics, luxury)
    within about a day, visible both in the daily series and as payments clustered in
    time.

Everything is deterministic per ``seed``: each stage draws from its own
``numpy.random.Generator`` spawned from ``SeedSequence(seed)``; nothing touches global
random state.

Product category ``k`` (``CATEGORIES[k]``) is the topic of reviews, the product
category of merchants, the driver of spending level and weekly shape, and digit class
``k`` in profile photos; a normal user's modalities agree on their interests, which
is what makes a cross-modal mismatch detectable.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ._fraud_images import render_photo
from ._fraud_text import CATEGORIES, make_review, make_spam_review

__all__ = ["FraudNetwork", "make_fraud_network", "fraud_schema", "ANOMALY_TYPES",
           "CATEGORIES"]

ANOMALY_TYPES = ("attribute", "ring", "farm", "cross_modal", "burst")

DAY = 86_400
T_END = 1_719_792_000          # 2024-07-01 00:00:00 UTC (a Monday): snapshot time
WINDOW_DAYS = 90               # observation window for payments and series

# ---------------------------------------------------------------- category profiles
# index = category (see CATEGORIES)
_CAT_POP = np.array([0.12, 0.13, 0.14, 0.08, 0.11, 0.10, 0.10, 0.09, 0.08, 0.05])
_CAT_AMOUNT = np.array([110, 55, 32, 320, 22, 28, 65, 50, 16, 780], dtype=float)
_CAT_SIGMA = np.array([0.8, 0.6, 0.5, 0.7, 0.7, 0.5, 0.8, 0.7, 0.4, 0.7])
_CAT_RATE = np.array([0.25, 0.4, 1.4, 0.12, 0.7, 0.45, 0.3, 0.4, 0.3, 0.1])  # tx / day
_CAT_HOUR = np.array([20, 19, 17, 13, 21, 18, 11, 7, 21, 15], dtype=float)
_CAT_AGE = np.array([34, 30, 40, 41, 25, 31, 44, 33, 46, 47], dtype=float)
_CAT_BALANCE = np.array([0.2, 0.0, -0.2, 0.5, -0.3, 0.0, 0.2, 0.1, -0.1, 1.0])
_CAT_LOGIN = np.array([1.2, 1.1, 0.9, 0.8, 1.8, 1.0, 0.8, 1.0, 0.7, 0.9])
_MERCHANT_CAT_P = np.array([0.12, 0.14, 0.16, 0.08, 0.08, 0.10, 0.12, 0.08, 0.06, 0.06])
# weekly multipliers, Monday..Sunday
_CAT_WEEKLY = np.array([
    [1.0, 1.0, 1.0, 1.1, 1.2, 1.1, 0.6],   # electronics
    [0.8, 0.9, 1.0, 1.0, 1.3, 1.5, 0.5],   # fashion
    [0.9, 0.8, 0.9, 1.0, 1.3, 1.7, 0.4],   # groceries: Saturday shop, Sunday closed
    [0.6, 0.6, 0.8, 1.3, 1.9, 0.9, 0.9],   # travel: booked Thursday / Friday
    [0.7, 0.7, 0.8, 0.9, 1.3, 1.5, 1.5],   # gaming: weekends
    [0.9, 1.0, 1.1, 1.2, 1.3, 1.0, 0.5],   # beauty
    [0.6, 0.7, 0.8, 0.9, 1.0, 1.7, 1.6],   # home & garden: weekend DIY
    [1.4, 1.0, 1.0, 1.0, 0.7, 1.2, 1.2],   # sports
    [1.0, 1.0, 1.0, 1.0, 0.8, 1.0, 1.4],   # books
    [0.5, 0.7, 0.8, 1.0, 1.4, 2.0, 0.6],   # luxury
])

_COUNTRIES = np.array(["US", "GB", "DE", "FR", "ES", "IT", "NL", "PL", "BR", "IN",
                       "NG", "CA"])
_COUNTRY_P = np.array([0.24, 0.12, 0.10, 0.09, 0.07, 0.06, 0.05, 0.05, 0.08, 0.08,
                       0.03, 0.03])
_OFFSHORE = np.array(["CY", "MT", "PA", "SC"])
_CHANNELS = np.array(["organic", "referral", "paid_ads", "partner", "app_store"])
_CHANNEL_P_YOUNG = np.array([0.25, 0.20, 0.25, 0.05, 0.25])
_CHANNEL_P_OLD = np.array([0.40, 0.20, 0.15, 0.15, 0.10])
_RING_AMOUNTS = np.array([490.0, 495.0, 499.0, 950.0, 990.0, 999.0, 1490.0, 1990.0])
_BURST_CATS = np.array([0, 4, 9])       # electronics, gaming gift cards, luxury
_BURST_CAT_P = np.array([0.45, 0.35, 0.20])
_CLAIM_CATS = np.array([9, 3, 0])       # text_series claims: luxury, travel, electronics
_CHEAP_CATS = np.array([2, 8])          # ... while really buying groceries / books
_ATTR_VARIANTS = ("new_whale", "teen_whale", "hyperactive_senior")


# ---------------------------------------------------------------- result
@dataclass
class FraudNetwork:
    """A generated (or loaded) fraud network.

    Attributes:
        tables: table name -> DataFrame (``users``, ``devices``, ``merchants``,
            ``user_device``, ``payments``, ``follows``, ``reviews``, ``photos``,
            ``user_photo``, ``series``, ``transactions``).
        schema: schema dict for :meth:`graphad.data.schema.GraphSchema.from_dict`.
        labels: ground truth, one row per node of every type: ``node_type, id, label
            (0/1), anomaly_type ('none' or one of ANOMALY_TYPES), group_id (ring_k /
            farm_k or missing), category (ground-truth product category or missing),
            detail`` (free text).
        images: photo id -> absolute path of its PNG file.
        root: folder the ``photos.path`` values are relative to (pass it as
            ``base_dir`` to :func:`graphad.data.build_graph`).
        profiles: hidden per-user truth: community, household, primary / secondary
            interest, and the category shown by the user's photo, reviews and spending.
        config: generation parameters.
    """

    tables: Dict[str, pd.DataFrame]
    schema: Dict[str, Any]
    labels: pd.DataFrame
    images: Dict[str, Path]
    root: Path
    profiles: pd.DataFrame
    config: Dict[str, Any] = field(default_factory=dict)

    @property
    def user_labels(self) -> pd.DataFrame:
        """Label rows of the users (the usual evaluation target)."""
        return self.labels[self.labels["node_type"] == "user"].reset_index(drop=True)

    def anomaly_counts(self) -> Dict[str, int]:
        """Number of anomalous users per anomaly type."""
        u = self.user_labels
        counts = u.loc[u["label"] == 1, "anomaly_type"].value_counts()
        return {t: int(counts.get(t, 0)) for t in ANOMALY_TYPES}

    def build_graph(self, **kwargs):
        """``graphad.data.build_graph`` on these tables and schema (images resolved
        against :attr:`root`)."""
        from ..data.build import build_graph
        kwargs.setdefault("base_dir", self.root)
        return build_graph(self.tables, self.schema, **kwargs)


def fraud_schema() -> Dict[str, Any]:
    """The schema dict of the fraud network (without ``tables`` file entries)."""
    return {
        "nodes": {
            "user": {"table": "users", "id": "user_id",
                     "numeric": ["age", "account_age_days", "balance", "n_logins_30d"],
                     "categorical": ["country", "signup_channel"]},
            "device": {"table": "devices", "id": "device_id",
                       "categorical": ["os", "device_type"]},
            "merchant": {"table": "merchants", "id": "merchant_id",
                         "categorical": ["category", "country"]},
            "review": {"table": "reviews", "id": "review_id", "modality": "text",
                       "column": "text"},
            "photo": {"table": "photos", "id": "photo_id", "modality": "image",
                      "column": "path"},
            "spend": {"table": "series", "id": "series_id", "modality": "series",
                      "points": {"table": "transactions", "key": "series_id",
                                 "time": "ts", "value": "amount"}},
        },
        "relations": [
            {"src": "user", "rel": "uses", "dst": "device", "table": "user_device",
             "src_key": "user_id", "dst_key": "device_id"},
            {"src": "user", "rel": "pays", "dst": "merchant", "table": "payments",
             "src_key": "user_id", "dst_key": "merchant_id", "attrs": ["amount", "time"]},
            {"src": "user", "rel": "follows", "dst": "user", "table": "follows",
             "src_key": "src_user", "dst_key": "dst_user"},
            {"src": "user", "rel": "wrote", "dst": "review", "table": "reviews",
             "src_key": "user_id", "dst_key": "review_id"},
            {"src": "review", "rel": "about", "dst": "merchant", "table": "reviews",
             "src_key": "review_id", "dst_key": "merchant_id", "attrs": ["rating"]},
            {"src": "user", "rel": "has_photo", "dst": "photo", "table": "user_photo",
             "src_key": "user_id", "dst_key": "photo_id"},
            {"src": "user", "rel": "has_series", "dst": "spend", "table": "series",
             "src_key": "user_id", "dst_key": "series_id"},
        ],
    }


# ---------------------------------------------------------------- helpers
def tidy_optional_strings(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Give optional string columns one representation: object dtype, ``None`` when
    missing (the same after a Parquet round trip)."""
    frame = frame.copy()
    for col in columns:
        frame[col] = pd.Series([v if isinstance(v, str) else None for v in frame[col]],
                               dtype=object, index=frame.index)
    return frame


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    width = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _sample_weighted(rng: np.random.Generator, items: np.ndarray, weights: np.ndarray,
                     size: int) -> np.ndarray:
    """``size`` draws with replacement from ``items`` proportional to ``weights``."""
    cum = np.cumsum(weights, dtype=float)
    pos = np.searchsorted(cum, rng.random(size) * cum[-1], side="right")
    return items[np.minimum(pos, len(items) - 1)]


def _group_sizes(rng: np.random.Generator, target: float, lo: int, hi: int) -> List[int]:
    """Sizes in [lo, hi] of at least one group, summing to about ``target``."""
    n_groups = max(1, int(round(target / ((lo + hi) / 2))))
    total = max(int(round(target)), n_groups * lo)
    while total > n_groups * hi:
        n_groups += 1
    sizes = np.full(n_groups, lo)
    for _ in range(total - n_groups * lo):
        free = np.flatnonzero(sizes < hi)
        sizes[free[int(rng.integers(len(free)))]] += 1
    return sizes.tolist()


def _quantile_draw(rng: np.random.Generator, values: np.ndarray, lo: float, hi: float,
                   size: int) -> np.ndarray:
    return np.quantile(values, rng.uniform(lo, hi, size))


# ---------------------------------------------------------------- generator
class _Generator:
    def __init__(self, n_users: int, seed: int, anomaly_rate: float,
                 n_merchants: Optional[int], window_days: int):
        if n_users < 50:
            raise ValueError(f"n_users must be at least 50, got {n_users}")
        if not 0 <= anomaly_rate <= 0.5:
            raise ValueError(f"anomaly_rate must be in [0, 0.5], got {anomaly_rate}")
        self.n = n_users
        self.seed = seed
        self.rate = anomaly_rate
        self.n_merchants = n_merchants or max(30, n_users // 15)
        self.window = window_days
        stages = ("users", "anomalies", "merchants", "devices", "follows", "spend",
                  "reviews", "photos", "ids")
        children = np.random.SeedSequence(seed).spawn(len(stages))
        self.rngs = {s: np.random.default_rng(c) for s, c in zip(stages, children)}

    # ------------------------------------------------------------ users
    def users(self) -> None:
        rng, n = self.rngs["users"], self.n
        nb = max(4, int(round(n / 75)))
        self.n_blocks = nb
        block_p = rng.dirichlet(np.full(nb, 3.0))
        self.block = rng.choice(nb, size=n, p=block_p)
        block_country = rng.choice(len(_COUNTRIES), size=nb, p=_COUNTRY_P)
        block_cat_p = rng.dirichlet(_CAT_POP * 6, size=nb)
        primary = np.empty(n, dtype=int)
        for b in range(nb):
            idx = np.flatnonzero(self.block == b)
            primary[idx] = rng.choice(10, size=len(idx), p=block_cat_p[b])
        secondary = rng.choice(10, size=n, p=_CAT_POP)
        while (clash := secondary == primary).any():
            secondary[clash] = rng.choice(10, size=int(clash.sum()), p=_CAT_POP)
        home = rng.random(n) < 0.75
        country = np.where(home, block_country[self.block],
                           rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P))
        wealth = np.clip(rng.standard_t(4, size=n) * 0.8, -4, 4)
        activity = np.exp(rng.normal(0, 0.35, size=n))
        age = np.clip(np.round(rng.normal(_CAT_AGE[primary], 11)), 18, 90).astype(int)
        new = rng.random(n) < 0.10
        tenure = np.exp(rng.normal(np.log(650) + 0.01 * (age - 35), 0.75))
        account_age = np.where(new, rng.integers(5, 91, size=n),
                               np.clip(np.round(tenure), 91, 4000)).astype(int)
        balance = np.exp(6.3 + 0.018 * (age - 35) + 0.3 * np.log1p(account_age / 365)
                         + _CAT_BALANCE[primary] + wealth)
        mu = (10 * _CAT_LOGIN[primary] * np.exp(-0.012 * (age - 30)) * activity
              * np.where(account_age < 90, 1.4, 1.0))
        logins = rng.poisson(rng.gamma(2.0, mu / 2.0))
        young = age < 30
        channel = np.where(young, rng.choice(5, size=n, p=_CHANNEL_P_YOUNG),
                           rng.choice(5, size=n, p=_CHANNEL_P_OLD))
        self.primary, self.secondary = primary, secondary
        self.wealth, self.activity = wealth, activity
        self.age, self.account_age = age, account_age
        self.balance, self.logins = balance, logins.astype(int)
        self.country, self.channel = country, channel
        self.spend_cat = primary.copy()
        self.photo_plan = np.full(n, -2)       # -2: normal draw; else forced category
        self.text_topic = np.full(n, -1)       # forced review topic, -1: normal draw

    # ------------------------------------------------------------ anomalies
    def anomalies(self) -> None:
        rng, n = self.rngs["anomalies"], self.n
        per_type = n * self.rate / len(ANOMALY_TYPES)
        self.atype = np.array(["none"] * n, dtype=object)
        self.group = np.array([None] * n, dtype=object)
        self.detail = np.array([""] * n, dtype=object)
        order = iter(rng.permutation(n).tolist())

        def take(k: int) -> np.ndarray:
            return np.array([next(order) for _ in range(k)], dtype=int)

        k_single = max(1, int(round(per_type))) if self.rate > 0 else 0
        self.rings: List[np.ndarray] = []
        self.farms: List[np.ndarray] = []
        if self.rate > 0:
            for size in _group_sizes(rng, per_type, 6, 15):
                self.rings.append(take(size))
            for size in _group_sizes(rng, per_type, 8, 20):
                self.farms.append(take(size))
        self.attr_users = take(k_single)
        self.cross_users = take(k_single)
        self.burst_users = take(k_single)

        for g, members in enumerate(self.rings, 1):
            self.atype[members] = "ring"
            self.group[members] = f"ring_{g}"
            self.detail[members] = f"member of collusion ring ring_{g} ({len(members)} users)"

        # marginals of the users that stay normal: anomalous values are drawn from them
        chosen = np.concatenate(self.rings + self.farms + [self.attr_users,
                                                           self.cross_users,
                                                           self.burst_users])
        pool = np.setdiff1d(np.arange(n), chosen)
        bal_n, log_n = self.balance[pool].copy(), self.logins[pool].copy()
        acc_n, age_n = self.account_age[pool].copy(), self.age[pool].copy()
        bal_new = self.balance[pool][acc_n < 91]

        # device farms: one interest (that of the stolen photo), one country, one signup
        # channel; either a fresh batch of accounts created within days of each other or
        # bought aged accounts; small (drained) balances, bot-like logins
        self.farm_cat: List[int] = []
        first_kind = int(rng.integers(2))
        for g, members in enumerate(self.farms, 1):
            k = len(members)
            cat = int(rng.choice(10, p=_CAT_POP))
            self.farm_cat.append(cat)
            self.atype[members] = "farm"
            self.group[members] = f"farm_{g}"
            fresh = (g + first_kind) % 2 == 0      # alternate fresh / bought farms
            if fresh:
                base_age = int(rng.integers(12, 45))
                self.account_age[members] = base_age + rng.integers(-3, 4, size=k)
                self.balance[members] = _quantile_draw(rng, bal_new, 0.05, 0.7, k)
            else:
                self.account_age[members] = rng.choice(acc_n, size=k)
                self.balance[members] = _quantile_draw(rng, bal_n, 0.02, 0.4, k)
            kind = "fresh accounts" if fresh else "bought aged accounts"
            self.detail[members] = f"account of device farm farm_{g} ({k} {kind})"
            self.age[members] = rng.integers(20, 46, size=k)
            self.country[members] = rng.choice(len(_COUNTRIES), p=_COUNTRY_P)
            self.channel[members] = rng.choice([1, 2])     # referral or paid ads abuse
            self.logins[members] = np.round(_quantile_draw(rng, log_n, 0.6, 0.95, k))
            self.activity[members] = 0.3
            self.primary[members] = cat
            self.spend_cat[members] = cat
            self.photo_plan[members] = -3       # the shared farm photo

        # contextual attribute outliers: each value from the normal marginals, the
        # combination rare
        variants = rng.permutation(len(self.attr_users)) % len(_ATTR_VARIANTS)
        for u, v in zip(self.attr_users, variants):
            variant = _ATTR_VARIANTS[v]
            if variant == "new_whale":
                young = acc_n[acc_n <= 30]
                self.account_age[u] = (rng.choice(young) if len(young)
                                       else rng.integers(5, 31))
                self.balance[u] = _quantile_draw(rng, bal_n, 0.975, 0.998, 1)[0]
                self.logins[u] = int(_quantile_draw(rng, log_n, 0.85, 0.97, 1)[0])
                text = (f"new_whale: {self.account_age[u]}-day-old account with a "
                        f"top-2.5% balance")
            elif variant == "teen_whale":
                self.age[u] = int(_quantile_draw(rng, age_n, 0.0, 0.02, 1)[0])
                self.account_age[u] = rng.choice(acc_n[acc_n < 365 * (self.age[u] - 16)])
                self.balance[u] = _quantile_draw(rng, bal_n, 0.985, 0.999, 1)[0]
                text = f"teen_whale: {self.age[u]}-year-old with a top-1.5% balance"
            else:
                self.age[u] = int(np.ceil(_quantile_draw(rng, age_n, 0.98, 1.0, 1)[0]))
                self.account_age[u] = rng.choice(acc_n)
                self.logins[u] = int(_quantile_draw(rng, log_n, 0.985, 0.999, 1)[0])
                text = (f"hyperactive_senior: {self.age[u]}-year-old with "
                        f"{self.logins[u]} logins in 30 days (top 1.5%)")
            self.atype[u] = "attribute"
            self.detail[u] = text

        # cross-modal: two thirds text vs photo, one third text vs spending
        self.cross_variant: Dict[int, str] = {}
        for i, u in enumerate(self.cross_users):
            self.atype[u] = "cross_modal"
            if i % 3 != 2:
                others = [c for c in range(10) if c not in (self.primary[u],
                                                           self.secondary[u])]
                topic = int(rng.choice(others))
                self.text_topic[u] = topic
                self.photo_plan[u] = self.primary[u]
                self.cross_variant[int(u)] = "text_photo"
                self.detail[u] = (f"text_photo: reviews about {CATEGORIES[topic]}, photo "
                                  f"and spending about {CATEGORIES[self.primary[u]]}")
            else:
                claim = int(rng.choice(_CLAIM_CATS))
                cheap = int(rng.choice(_CHEAP_CATS))
                self.primary[u], self.secondary[u] = cheap, cheap
                self.spend_cat[u] = cheap
                self.text_topic[u] = claim
                self.photo_plan[u] = claim
                self.activity[u] = 0.5
                self.cross_variant[int(u)] = "text_series"
                self.detail[u] = (f"text_series: reviews and photo about "
                                  f"{CATEGORIES[claim]}, spending flat and tiny "
                                  f"({CATEGORIES[cheap]})")

        for u in self.burst_users:
            self.atype[u] = "burst"         # detail filled in by spend()

        # a few normal users are very new accounts: hard negatives for 'attribute'
        hard = np.flatnonzero((self.atype == "none") & (rng.random(n) < 0.01))
        self.account_age[hard] = rng.integers(5, 60, size=len(hard))

    # ------------------------------------------------------------ merchants
    def merchants(self) -> None:
        rng = self.rngs["merchants"]
        m = self.n_merchants
        cat = np.concatenate([np.repeat(np.arange(10), 2),
                              rng.choice(10, size=max(0, m - 20), p=_MERCHANT_CAT_P)])
        country = _COUNTRIES[rng.choice(len(_COUNTRIES), size=len(cat),
                                        p=_COUNTRY_P)].astype(object)
        pop = rng.pareto(1.2, size=len(cat)) + 1.0
        shell_of = np.full(len(cat), -1)
        # each ring: one shell merchant (often offshore) + 1-2 existing merchants
        self.ring_merchants: List[np.ndarray] = []
        self.ring_amounts: List[np.ndarray] = []
        cats, countries, pops, shells = [cat], [country], [pop], [shell_of]
        next_index = len(cat)
        for g, _ in enumerate(self.rings):
            shell_cat = int(rng.choice(10))
            off = rng.random() < 0.6
            cats.append(np.array([shell_cat]))
            countries.append(np.array([rng.choice(_OFFSHORE) if off
                                       else rng.choice(_COUNTRIES, p=_COUNTRY_P)],
                                      dtype=object))
            pops.append(np.array([0.05]))
            shells.append(np.array([g]))
            existing = rng.choice(len(cat), size=int(rng.integers(1, 3)), replace=False)
            self.ring_merchants.append(np.concatenate([[next_index], existing]))
            self.ring_amounts.append(rng.choice(_RING_AMOUNTS, size=3, replace=False))
            next_index += 1
        self.m_cat = np.concatenate(cats).astype(int)
        self.m_country = np.concatenate(countries)
        self.m_pop = np.concatenate(pops)
        self.m_shell = np.concatenate(shells)
        regular = self.m_shell < 0
        self.m_by_cat = [np.flatnonzero((self.m_cat == c) & regular) for c in range(10)]
        # each user's favourite merchants per category (two slots)
        self.fav = np.empty((self.n, 10, 2), dtype=int)
        for c in range(10):
            idx = self.m_by_cat[c]
            self.fav[:, c, :] = _sample_weighted(rng, idx, self.m_pop[idx],
                                                 self.n * 2).reshape(self.n, 2)
        # each farm promotes 1-2 client merchants of its category
        self.farm_clients = [rng.choice(self.m_by_cat[c], size=min(2, len(self.m_by_cat[c])),
                                        replace=False)[: int(rng.integers(1, 3))]
                             for c in self.farm_cat]

    def pick_merchants(self, rng: np.random.Generator, users: np.ndarray,
                       cats: np.ndarray) -> np.ndarray:
        """Merchant per (user, category): a favourite 70% of the time, else by
        popularity within the category."""
        out = self.fav[users, cats, rng.integers(0, 2, size=len(users))]
        other = rng.random(len(users)) >= 0.7
        for c in range(10):
            sel = np.flatnonzero(other & (cats == c))
            if len(sel):
                idx = self.m_by_cat[c]
                out[sel] = _sample_weighted(rng, idx, self.m_pop[idx], len(sel))
        return out

    # ------------------------------------------------------------ devices
    def devices(self) -> None:
        rng, n = self.rngs["devices"], self.n
        dev_type: List[str] = []
        dev_os: List[str] = []
        edges: List[Tuple[int, int]] = []
        self.household = np.full(n, -1)
        ios_share = {"US": 0.55, "GB": 0.5, "CA": 0.5, "NL": 0.4, "DE": 0.35, "FR": 0.35}

        def new_device(kind: str, country: str) -> int:
            if kind == "phone":
                os_ = "ios" if rng.random() < ios_share.get(country, 0.25) else "android"
            elif kind == "tablet":
                os_ = "ipados" if rng.random() < 0.6 else "android"
            elif kind == "desktop":
                os_ = str(rng.choice(["windows", "macos", "linux"], p=[0.65, 0.28, 0.07]))
            else:
                os_ = str(rng.choice(["windows", "macos", "linux", "chromeos"],
                                     p=[0.55, 0.38, 0.04, 0.03]))
            dev_type.append(kind)
            dev_os.append(os_)
            return len(dev_type) - 1

        farm_members = set(np.concatenate(self.farms).tolist()) if self.farms else set()
        hh = 0
        for b in range(self.n_blocks):
            members = [u for u in rng.permutation(np.flatnonzero(self.block == b)).tolist()
                       if u not in farm_members]
            i = 0
            while i < len(members):
                size = int(rng.choice([1, 2, 3, 4], p=[0.62, 0.25, 0.10, 0.03]))
                home = members[i:i + size]
                i += size
                self.household[home] = hh
                hh += 1
                country = str(_COUNTRIES[self.country[home[0]]])
                shared = rng.random() < (0.8 if len(home) > 1 else 0.3)
                if shared:
                    d = new_device(str(rng.choice(["desktop", "tablet"], p=[0.6, 0.4])),
                                   country)
                    edges += [(u, d) for u in home]
                for u in home:
                    has_any = shared
                    if rng.random() < 0.95 or not has_any:
                        edges.append((u, new_device("phone", country)))
                    if rng.random() < 0.2:
                        edges.append((u, new_device("laptop", country)))
        # device farms: one or two emulator phones shared by every account of the farm
        self.farm_devices: List[List[int]] = []
        for members in self.farms:
            first = new_device("phone", "XX")
            dev_os[first] = "android"
            devs = [first]
            edges += [(int(u), first) for u in members]
            if rng.random() < 0.4:
                second = new_device("phone", "XX")
                dev_os[second] = "android"
                devs.append(second)
                sub = rng.choice(members, size=max(2, len(members) // 2), replace=False)
                edges += [(int(u), second) for u in sub]
            self.farm_devices.append(devs)
        self.dev_type = np.array(dev_type, dtype=object)
        self.dev_os = np.array(dev_os, dtype=object)
        self.user_device = np.array(edges, dtype=int)

    # ------------------------------------------------------------ follows
    def follows(self) -> None:
        rng, n = self.rngs["follows"], self.n
        pop = (rng.pareto(1.5, size=n) + 1.0) * np.exp(0.2 * self.wealth)
        farm_all = np.concatenate(self.farms) if self.farms else np.empty(0, int)
        pop[farm_all] = 0.05                 # nobody follows fake accounts
        deg = np.clip(np.round(np.exp(rng.normal(np.log(5) + 0.3 * np.log(self.activity),
                                                 0.8, size=n))), 0, 150).astype(int)
        members_of = [np.flatnonzero(self.block == b) for b in range(self.n_blocks)]
        all_users = np.arange(n)
        src: List[np.ndarray] = []
        dst: List[np.ndarray] = []
        farm_set = set(farm_all.tolist())
        for u in range(n):
            if u in farm_set or deg[u] == 0:
                continue
            k_in = rng.binomial(deg[u], 0.8)
            mem = members_of[self.block[u]]
            t_in = _sample_weighted(rng, mem, pop[mem], k_in)
            t_out = _sample_weighted(rng, all_users, pop, deg[u] - k_in)
            t = np.concatenate([t_in, t_out])
            src.append(np.full(len(t), u))
            dst.append(t)
        s, d = np.concatenate(src), np.concatenate(dst)
        back = rng.random(len(s)) < 0.25      # reciprocated follows
        s, d = np.concatenate([s, d[back]]), np.concatenate([d, s[back]])
        extra_s: List[int] = []
        extra_d: List[int] = []
        # rings: nearly complete directed subgraphs across communities
        for members in self.rings:
            for a in members:
                for b in members:
                    if a != b and rng.random() < 0.75:
                        extra_s.append(int(a))
                        extra_d.append(int(b))
        # farms: every account follows the farm's client accounts, plus a few popular
        for members in self.farms:
            normal = np.flatnonzero(self.atype == "none")
            clients = rng.choice(normal, size=int(rng.integers(3, 6)), replace=False)
            for a in members:
                targets = np.concatenate([
                    rng.choice(clients, size=int(rng.integers(2, len(clients) + 1)),
                               replace=False),
                    _sample_weighted(rng, all_users, pop, int(rng.integers(0, 4)))])
                extra_s += [int(a)] * len(targets)
                extra_d += targets.tolist()
        s = np.concatenate([s, np.array(extra_s, dtype=int)])
        d = np.concatenate([d, np.array(extra_d, dtype=int)])
        keep = s != d
        pairs = np.unique(np.stack([s[keep], d[keep]], axis=1), axis=0)
        self.follow_edges = pairs

    # ------------------------------------------------------------ spending
    def spend(self) -> None:
        rng, n, W = self.rngs["spend"], self.n, self.window
        start_day = np.empty(n, dtype=int)     # first day index of the series in 0..W-1
        tx_user: List[np.ndarray] = []
        tx_day: List[np.ndarray] = []
        tx_cat: List[np.ndarray] = []
        tx_amt: List[np.ndarray] = []
        tx_time: List[np.ndarray] = []
        tx_merchant: List[np.ndarray] = []
        tx_force: List[np.ndarray] = []       # 1: always a platform payment
        day0 = T_END - W * DAY                 # unix time of day index 0
        dow_all = ((day0 // DAY + np.arange(W) + 3) % 7).astype(int)

        def emit(u, days, cats, amts, times=None, merchants=None, force=False):
            k = len(days)
            if k == 0:
                return
            if times is None:
                hours = (rng.normal(_CAT_HOUR[cats], 3.5) % 24)
                times = day0 + days * DAY + (hours * 3600).astype(np.int64)
            tx_user.append(np.full(k, u))
            tx_day.append(np.asarray(days, dtype=int))
            tx_cat.append(np.asarray(cats, dtype=int))
            tx_amt.append(np.asarray(amts, dtype=float))
            tx_time.append(np.asarray(times, dtype=np.int64))
            tx_merchant.append(np.full(k, -1) if merchants is None
                               else np.asarray(merchants, dtype=int))
            tx_force.append(np.full(k, force))

        flat = {u for u, v in self.cross_variant.items() if v == "text_series"}
        for u in range(n):
            length = min(int(rng.integers(60, W + 1)), max(int(self.account_age[u]), 5))
            s0 = W - length
            start_day[u] = s0
            days = np.arange(s0, W)
            dow = dow_all[days]
            p, sc = int(self.spend_cat[u]), int(self.secondary[u])
            act = self.activity[u]
            amount_scale = np.exp(0.2 * self.wealth[u])
            if u in flat:
                comps = [(p, 0.6 * _CAT_RATE[p], np.ones(7))]
                amount_scale = 0.4
                sigma_scale = 0.3
            else:
                gamma = rng.uniform(0.5, 1.5)
                comps = [(p, act * _CAT_RATE[p], _CAT_WEEKLY[p] ** gamma),
                         (sc, 0.35 * act * _CAT_RATE[sc], _CAT_WEEKLY[sc])]
                if 2 not in (p, sc):
                    comps.append((2, 0.3 * act, _CAT_WEEKLY[2]))
                comps.append((-1, 0.04 * act, np.ones(7)))
                sigma_scale = 1.0
            for cat, rate, weekly in comps:
                counts = rng.poisson(rate * weekly[dow])
                k = int(counts.sum())
                if k == 0:
                    continue
                d = np.repeat(days, counts)
                c = (np.full(k, cat) if cat >= 0 else rng.integers(0, 10, size=k))
                a = np.exp(rng.normal(np.log(_CAT_AMOUNT[c] * amount_scale),
                                      _CAT_SIGMA[c] * sigma_scale))
                emit(u, d, c, a)
            if u not in flat and self.atype[u] == "none" and rng.random() < 0.08:
                # a shopping spree day (holiday, birthday): a few extra purchases
                k = int(rng.integers(3, 7))
                d = np.full(k, int(rng.integers(s0, W)))
                c = np.full(k, p)
                emit(u, d, c, np.exp(rng.normal(np.log(_CAT_AMOUNT[c] * 1.5), 0.5)))

        # rings: round, unusually large payments to the ring's merchants
        for g, members in enumerate(self.rings):
            ms, amounts = self.ring_merchants[g], self.ring_amounts[g]
            for u in members:
                k = int(rng.integers(3, 9))
                d = rng.integers(start_day[u], W, size=k)
                m = rng.choice(ms, size=k)
                m[0] = ms[0]                      # everyone pays the shell merchant
                a = rng.choice(amounts, size=k)
                emit(int(u), d, self.m_cat[m], a, merchants=m, force=True)
        # bursts: 10-28 high-value purchases within about a day
        for u in self.burst_users:
            u = int(u)
            k = int(rng.integers(10, 29))
            first = int(rng.integers(start_day[u], W - 1))
            t0 = day0 + first * DAY + int(rng.uniform(7, 22) * 3600)
            gaps = rng.exponential(rng.uniform(20, 60) * 60, size=k)
            times = (t0 + np.cumsum(gaps)).astype(np.int64)
            times = np.minimum(times, T_END - 1)
            d = ((times - day0) // DAY).astype(int)
            c = rng.choice(_BURST_CATS, size=k, p=_BURST_CAT_P)
            a = np.exp(rng.normal(np.log(250), 0.5, size=k))
            force = rng.random(k) < 0.85
            emit(u, d[force], c[force], a[force], times=times[force], force=True)
            emit(u, d[~force], c[~force], a[~force], times=times[~force])
            self.detail[u] = (f"burst: {k} purchases in {(times[-1] - times[0]) / 3600:.1f} "
                              f"hours from {pd.Timestamp(int(times[0]), unit='s')}")

        user = np.concatenate(tx_user)
        day = np.concatenate(tx_day)
        cat = np.concatenate(tx_cat)
        amt = np.round(np.concatenate(tx_amt), 2)
        time = np.concatenate(tx_time)
        merchant = np.concatenate(tx_merchant)
        force = np.concatenate(tx_force)

        # daily series: one point per user per day since the series start, zeros kept
        lengths = W - start_day
        offset = np.concatenate([[0], np.cumsum(lengths)])
        slot = offset[user] + (day - start_day[user])
        total = np.bincount(slot, weights=amt, minlength=offset[-1])
        count = np.bincount(slot, minlength=offset[-1])
        s_user = np.repeat(np.arange(n), lengths)
        s_day = np.concatenate([np.arange(s, W) for s in start_day])
        self.series_points = (s_user, day0 + s_day * DAY, np.round(total, 2), count)

        # platform payments: a user-specific share of purchases, plus all forced ones
        share = rng.beta(3, 6, size=n)
        pay = force | (rng.random(len(user)) < share[user])
        pu, pc = user[pay], cat[pay]
        pm = merchant[pay].copy()
        need = pm < 0
        pm[need] = self.pick_merchants(rng, pu[need], pc[need])
        order = np.lexsort((pu, time[pay]))
        self.payments = (pu[order], pm[order], amt[pay][order], time[pay][order])

    # ------------------------------------------------------------ reviews
    def reviews(self) -> None:
        rng, n = self.rngs["reviews"], self.n
        rating_p = np.array([0.08, 0.06, 0.12, 0.28, 0.46])
        rows: List[Tuple[int, int, int, int, str, int]] = []  # user, merchant, rating, cat, text, kind
        farm_of = {int(u): g for g, members in enumerate(self.farms) for u in members}
        for u in range(n):
            if u in farm_of:
                g = farm_of[u]
                cat = self.farm_cat[g]
                for _ in range(int(rng.integers(1, 3))):
                    m = int(rng.choice(self.farm_clients[g]))
                    rows.append((u, m, 5, cat, make_spam_review(rng, cat), 1))
                continue
            forced = self.text_topic[u]
            if forced >= 0:
                k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.20]))
            else:
                k = int(rng.choice([0, 1, 2, 3], p=[0.30, 0.35, 0.22, 0.13]))
            for _ in range(k):
                if forced >= 0:
                    cat = int(forced)
                    m = int(_sample_weighted(rng, self.m_by_cat[cat],
                                             self.m_pop[self.m_by_cat[cat]], 1)[0])
                    rating = (int(rng.choice([4, 5], p=[0.4, 0.6]))
                              if self.cross_variant.get(u) == "text_series"
                              else int(rng.choice(5, p=rating_p)) + 1)
                    kind = 2
                else:
                    cat = int(self.primary[u] if rng.random() < 0.85 else self.secondary[u])
                    m = int(self.pick_merchants(rng, np.array([u]), np.array([cat]))[0])
                    rating = int(rng.choice(5, p=rating_p)) + 1
                    kind = 0
                rows.append((u, m, rating, cat, make_review(rng, cat, rating), kind))
        self.review_rows = rows

    # ------------------------------------------------------------ photos
    def photos(self) -> None:
        rng, n = self.rngs["photos"], self.n
        plan: List[Tuple[List[int], int]] = []   # (owners, category)
        for g, members in enumerate(self.farms):
            plan.append(([int(u) for u in members], self.farm_cat[g]))
        self.photo_cat_user = np.full(n, -1)
        for u in range(n):
            forced = self.photo_plan[u]
            if forced == -3:
                continue                           # farm photo, planned above
            if forced >= 0:
                plan.append(([u], int(forced)))
                self.photo_cat_user[u] = forced
                continue
            k = int(rng.choice([0, 1, 2], p=[0.10, 0.85, 0.05]))
            if k == 0:
                continue
            first = int(self.primary[u] if rng.random() < 0.92 else self.secondary[u])
            plan.append(([u], first))
            self.photo_cat_user[u] = first
            if k == 2:
                second = int(self.secondary[u] if first == self.primary[u]
                             else self.primary[u])
                plan.append(([u], second))
        for g, members in enumerate(self.farms):
            self.photo_cat_user[members] = self.farm_cat[g]
        self.photo_plan_list = plan
        self.photo_png: List[bytes] = []
        for _, cat in plan:
            png, _ = render_photo(rng, cat)
            self.photo_png.append(png)

    # ------------------------------------------------------------ assemble
    def assemble(self, image_dir: Path, root: Path) -> FraudNetwork:
        rng, n = self.rngs["ids"], self.n
        # ids: users in generation order (anomalies were drawn at random positions);
        # other entities get ids in a random order so that ids carry no signal
        uid = _ids("u", n, 5)

        def shuffled_ids(prefix: str, k: int, width: int) -> np.ndarray:
            return _ids(prefix, k, width)[rng.permutation(k)]

        mid = shuffled_ids("m", len(self.m_cat), 4)
        did = shuffled_ids("d", len(self.dev_type), 5)
        rid = shuffled_ids("r", len(self.review_rows), 6)
        pid = shuffled_ids("p", len(self.photo_plan_list), 5)
        sid = _ids("s", n, 5)[rng.permutation(n)]
        cat_names = np.array(CATEGORIES, dtype=object)

        users = pd.DataFrame({
            "user_id": uid, "age": self.age.astype(np.int64),
            "account_age_days": self.account_age.astype(np.int64),
            "balance": np.round(self.balance, 2),
            "n_logins_30d": self.logins.astype(np.int64),
            "country": _COUNTRIES[self.country], "signup_channel": _CHANNELS[self.channel]})
        devices = pd.DataFrame({"device_id": did, "os": self.dev_os,
                                "device_type": self.dev_type})
        merchants = pd.DataFrame({"merchant_id": mid, "category": cat_names[self.m_cat],
                                  "country": self.m_country})
        user_device = pd.DataFrame({"user_id": uid[self.user_device[:, 0]],
                                    "device_id": did[self.user_device[:, 1]]})
        pu, pm, pa, pt = self.payments
        payments = pd.DataFrame({"user_id": uid[pu], "merchant_id": mid[pm],
                                 "amount": pa, "time": pt.astype(np.int64)})
        follows = pd.DataFrame({"src_user": uid[self.follow_edges[:, 0]],
                                "dst_user": uid[self.follow_edges[:, 1]]})
        rv = self.review_rows
        reviews = pd.DataFrame({
            "review_id": rid, "user_id": uid[[r[0] for r in rv]],
            "merchant_id": mid[[r[1] for r in rv]],
            "rating": np.array([r[2] for r in rv], dtype=np.int64),
            "text": [r[4] for r in rv]})
        photo_paths = [f"{image_dir.name}/{p}.png" for p in pid]
        photos = pd.DataFrame({"photo_id": pid, "path": photo_paths})
        up = [(u, pid[j]) for j, (owners, _) in enumerate(self.photo_plan_list)
              for u in owners]
        user_photo = pd.DataFrame({"user_id": uid[[u for u, _ in up]],
                                   "photo_id": [p for _, p in up]})
        series = pd.DataFrame({"series_id": sid, "user_id": uid})
        s_user, s_ts, s_amt, s_cnt = self.series_points
        transactions = pd.DataFrame({"series_id": sid[s_user], "ts": s_ts.astype(np.int64),
                                     "amount": s_amt, "n_tx": s_cnt.astype(np.int64)})

        def by(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
            return frame.sort_values(list(cols), kind="stable").reset_index(drop=True)

        tables = {
            "users": users, "devices": by(devices, "device_id"),
            "merchants": by(merchants, "merchant_id"),
            "user_device": by(user_device, "user_id", "device_id"),
            "payments": payments, "follows": follows,
            "reviews": by(reviews, "review_id"), "photos": by(photos, "photo_id"),
            "user_photo": by(user_photo, "user_id", "photo_id"),
            "series": by(series, "series_id"),
            "transactions": by(transactions, "series_id", "ts"),
        }

        # images
        image_dir.mkdir(parents=True, exist_ok=True)
        images: Dict[str, Path] = {}
        for p, png in zip(pid, self.photo_png):
            path = image_dir / f"{p}.png"
            path.write_bytes(png)
            images[str(p)] = path.resolve()
        images = dict(sorted(images.items()))

        labels = self._labels(uid, mid, did, rid, pid, sid, cat_names)
        topic_counts = np.zeros((n, 10), dtype=int)
        for r in rv:
            topic_counts[r[0], r[3]] += 1
        has_text = topic_counts.sum(axis=1) > 0
        text_cat = np.where(has_text, topic_counts.argmax(axis=1), -1)

        def cat_or_none(values: np.ndarray) -> List[Optional[str]]:
            return [CATEGORIES[v] if v >= 0 else None for v in values]

        profiles = pd.DataFrame({
            "user_id": uid, "community": self.block.astype(np.int64),
            "household": self.household.astype(np.int64),
            "primary_category": cat_names[self.primary],
            "secondary_category": cat_names[self.secondary],
            "photo_category": cat_or_none(self.photo_cat_user),
            "text_category": cat_or_none(text_cat),
            "spend_category": cat_names[self.spend_cat],
            "anomaly_type": self.atype.astype(str),
        })
        config = {"n_users": n, "seed": self.seed, "anomaly_rate": self.rate,
                  "n_merchants": self.n_merchants, "window_days": self.window,
                  "t_end": T_END}
        profiles = tidy_optional_strings(profiles, ["photo_category", "text_category"])
        return FraudNetwork(tables=tables, schema=fraud_schema(), labels=labels,
                            images=images, root=root.resolve(), profiles=profiles,
                            config=config)

    def _labels(self, uid, mid, did, rid, pid, sid, cat_names) -> pd.DataFrame:
        parts = []

        def frame(node_type, ids, label, atype, group, category, detail):
            k = len(ids)
            return pd.DataFrame({
                "node_type": [node_type] * k, "id": list(ids),
                "label": np.asarray(label, dtype=np.int64),
                "anomaly_type": list(atype), "group_id": list(group),
                "category": list(category), "detail": list(detail)})

        n = self.n
        parts.append(frame("user", uid, self.atype != "none", self.atype, self.group,
                           cat_names[self.primary], self.detail))
        # devices: farm devices are anomalous
        nd = len(self.dev_type)
        d_label, d_type = np.zeros(nd, int), np.array(["none"] * nd, dtype=object)
        d_group, d_detail = np.array([None] * nd, dtype=object), np.array([""] * nd, dtype=object)
        for g, devs in enumerate(self.farm_devices, 1):
            d_label[devs], d_type[devs], d_group[devs] = 1, "farm", f"farm_{g}"
            d_detail[devs] = f"emulator device of farm_{g}"
        parts.append(frame("device", did, d_label, d_type, d_group, [None] * nd, d_detail))
        # merchants: ring shell merchants are anomalous
        nm = len(self.m_cat)
        shell = self.m_shell >= 0
        parts.append(frame("merchant", mid, shell, np.where(shell, "ring", "none"),
                           [f"ring_{g + 1}" if g >= 0 else None for g in self.m_shell],
                           cat_names[self.m_cat],
                           [f"shell merchant of ring_{g + 1}" if g >= 0 else ""
                            for g in self.m_shell]))
        # reviews: farm spam and cross-modal text_photo reviews are anomalous
        r_label, r_type, r_group, r_detail = [], [], [], []
        for u, m, rating, cat, text, kind in self.review_rows:
            variant = self.cross_variant.get(u)
            if kind == 1:
                r_label.append(1), r_type.append("farm")
                r_group.append(self.group[u]), r_detail.append("farm spam review")
            elif kind == 2 and variant == "text_photo":
                r_label.append(1), r_type.append("cross_modal"), r_group.append(None)
                r_detail.append(f"topic {CATEGORIES[cat]} contradicts photo and spending "
                                f"({CATEGORIES[self.primary[u]]})")
            else:
                r_label.append(0), r_type.append("none"), r_group.append(None)
                r_detail.append("")
        parts.append(frame("review", rid, r_label, r_type, r_group,
                           [CATEGORIES[r[3]] for r in self.review_rows], r_detail))
        # photos: the shared farm photos are anomalous
        np_ = len(self.photo_plan_list)
        p_label, p_type = np.zeros(np_, int), np.array(["none"] * np_, dtype=object)
        p_group, p_detail = np.array([None] * np_, dtype=object), np.array([""] * np_, dtype=object)
        for g in range(len(self.farms)):
            p_label[g], p_type[g], p_group[g] = 1, "farm", f"farm_{g + 1}"
            p_detail[g] = f"photo shared by all {len(self.farms[g])} accounts of farm_{g + 1}"
        parts.append(frame("photo", pid, p_label, p_type, p_group,
                           [CATEGORIES[c] for _, c in self.photo_plan_list], p_detail))
        # series: burst series and the flat series of text_series users are anomalous
        s_label = np.zeros(n, int)
        s_type = np.array(["none"] * n, dtype=object)
        s_detail = np.array([""] * n, dtype=object)
        s_label[self.burst_users], s_type[self.burst_users] = 1, "burst"
        s_detail[self.burst_users] = self.detail[self.burst_users]
        for u, v in self.cross_variant.items():
            if v == "text_series":
                s_label[u], s_type[u] = 1, "cross_modal"
                s_detail[u] = "flat, tiny spending contradicts reviews and photo"
        parts.append(frame("spend", sid, s_label, s_type, [None] * n,
                           cat_names[self.spend_cat], s_detail))
        labels = pd.concat(parts, ignore_index=True)
        order = {t: i for i, t in enumerate(["user", "device", "merchant", "review",
                                             "photo", "spend"])}
        labels["_o"] = labels["node_type"].map(order)
        labels = labels.sort_values(["_o", "id"], kind="stable").drop(columns="_o")
        return tidy_optional_strings(labels.reset_index(drop=True), ["group_id", "category"])


def make_fraud_network(n_users: int = 3000, seed: int = 0, anomaly_rate: float = 0.05,
                       image_dir: Union[str, Path, None] = None, *,
                       n_merchants: Optional[int] = None,
                       window_days: int = WINDOW_DAYS) -> FraudNetwork:
    """Generate a labelled multimodal fraud network.

    Args:
        n_users: number of user accounts (at least 50).
        seed: random seed; the same seed gives identical tables, labels and images.
        anomaly_rate: share of users made anomalous, split evenly over the five
            anomaly types. Ring and farm sizes are drawn in [6, 15] and [8, 20] and at
            least one of each is planted, so small networks get a little more.
        image_dir: folder the profile photos are written to as ``<photo_id>.png``;
            ``photos.path`` holds ``<image_dir name>/<photo_id>.png``, relative to
            ``image_dir``'s parent, which becomes :attr:`FraudNetwork.root`. Default: a
            fresh temporary folder ``<tmp>/images``.
        n_merchants: number of regular merchants (default ``max(30, n_users // 15)``).
        window_days: length of the observation window (series are 60..window days).

    Returns:
        FraudNetwork.
    """
    if image_dir is None:
        root = Path(tempfile.mkdtemp(prefix="graphad_fraud_"))
        image_dir = root / "images"
    else:
        image_dir = Path(image_dir)
        root = image_dir.parent
    if window_days < 60:
        raise ValueError(f"window_days must be at least 60, got {window_days}")
    gen = _Generator(n_users, seed, anomaly_rate, n_merchants, window_days)
    gen.users()
    gen.anomalies()
    gen.merchants()
    gen.devices()
    gen.follows()
    gen.spend()
    gen.reviews()
    gen.photos()
    return gen.assemble(image_dir, root)
