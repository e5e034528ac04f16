"""A node's evidence: its texts, photos and time series, and where two modalities
disagree, the two side by side.

Observations are the modality nodes linked to an entity (``user -wrote-> review``);
each is shown with its own anomaly score, most anomalous first, so the text that
disagrees most is read first. A series is drawn against its peers' 5-95% band: the
same binning over time applied to every series of its type.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..data.bundle import GraphBundle, as_bundle
from ..errors import GraphadError
from ..scoring.graphview import parse_node, resolve_node
from ._figure import FLAG_COLOUR, new_figure, shorten

SERIES_BINS = 60
MAX_PEERS = 2000
EPOCH_RANGE = (1e8, 5e9)      # times in this range are read as unix seconds


@dataclass
class SeriesBand:
    """Peers' spread of one series type over common time bins.

    Attributes:
        edges: bin edges ``[bins + 1]`` (unix seconds where the times are dates, else
            positions); ``lo``, ``mid``, ``hi``: the 5th, 50th and 95th percentile
            per bin ``[bins]`` of the per-bin sums; ``dates``: whether the edges are
            unix seconds.
    """

    edges: np.ndarray
    lo: np.ndarray
    mid: np.ndarray
    hi: np.ndarray
    dates: bool

    def binned(self, times: Optional[np.ndarray], values: np.ndarray) -> np.ndarray:
        """One series summed into the band's bins ``[bins]``."""
        t = np.arange(len(values), dtype=float) if times is None else np.asarray(times, float)
        return np.histogram(t, bins=self.edges, weights=np.asarray(values, float))[0]


def series_band(graph: Any, node_type: str, bins: int = SERIES_BINS,
                max_peers: int = MAX_PEERS, quantiles: Tuple[float, float] = (5, 95),
                seed: int = 0) -> SeriesBand:
    """The 5-95% band of every ``node_type`` series (at most ``max_peers``, drawn with
    ``seed``) summed over ``bins`` common time bins."""
    bundle = as_bundle(graph)
    items = bundle.items.get(node_type)
    if not items:
        raise GraphadError(f"'{node_type}' holds no series to compare with")
    rng = np.random.default_rng(seed)
    pick = (rng.choice(len(items), max_peers, replace=False) if len(items) > max_peers
            else np.arange(len(items)))
    peers = [items[i] for i in pick if len(items[i][1])]
    if not peers:
        raise GraphadError(f"every '{node_type}' series is empty")
    timed = all(t is not None for t, _ in peers)
    if timed:
        lo_t = min(float(np.min(t)) for t, _ in peers)
        hi_t = max(float(np.max(t)) for t, _ in peers)
    else:
        lo_t, hi_t = 0.0, float(max(len(v) for _, v in peers))
    edges = np.linspace(lo_t, hi_t if hi_t > lo_t else lo_t + 1, bins + 1)
    band = SeriesBand(edges, np.empty(0), np.empty(0), np.empty(0),
                      dates=timed and EPOCH_RANGE[0] < lo_t < EPOCH_RANGE[1])
    sums = np.stack([band.binned(t if timed else None, v) for t, v in peers])
    band.lo, band.mid, band.hi = np.percentile(sums, [quantiles[0], 50, quantiles[1]],
                                               axis=0)
    return band


# ---------------------------------------------------------------- linked observations
@dataclass
class Observation:
    """One modality observation of a node: ``node_type``, index ``idx``, external
    ``id``, ``modality``, anomaly ``score`` (NaN when unscored) and ``item`` (text,
    image path, or ``(times, values)``)."""

    node_type: str
    idx: int
    id: Any
    modality: str
    score: float
    item: Any


def linked_observations(graph: Any, node: Any, scores: Optional[Mapping] = None
                        ) -> List[Observation]:
    """The modality observations of ``node`` (``(type, id)`` or ``"type:id"``): the
    node itself when it is one, and every observation node one edge away; most
    anomalous first within each modality."""
    bundle = as_bundle(graph)
    t, idx = _resolve(bundle, node)
    found: Dict[Tuple[str, int], None] = {}
    if bundle.modality.get(t):
        found[(t, idx)] = None
    for et in bundle.data.edge_types:
        src, _, dst = et
        if src != t or not bundle.modality.get(dst):
            continue
        ei = bundle.data[et].edge_index
        for j in ei[1][ei[0] == idx].tolist():
            found[(dst, int(j))] = None
    out = []
    for ot, j in found:
        s = scores.get(ot) if scores is not None else None
        out.append(Observation(ot, j, bundle.ids.external(ot, [j])[0], bundle.modality[ot],
                               float(s[j]) if s is not None else float("nan"),
                               _item(bundle, ot, j)))
    out.sort(key=lambda o: (o.modality, -(o.score if np.isfinite(o.score) else -np.inf)))
    return out


def _resolve(bundle: GraphBundle, node: Any) -> Tuple[str, int]:
    t, node_id = parse_node(node) if isinstance(node, str) else node
    return t, resolve_node(bundle, t, node_id)


def _item(bundle: GraphBundle, t: str, j: int) -> Any:
    if t in bundle.items:
        return bundle.items[t][j]
    raw = bundle.raw.get(t)
    spec = bundle.schema.nodes.get(t) if bundle.schema is not None else None
    if raw is None:
        return None
    col = spec.column if spec is not None and spec.column in raw.columns else None
    if col is None:
        texts = [c for c in raw.columns if raw[c].dtype == object]
        col = texts[-1] if texts else None
    return None if col is None else raw[col].iloc[j]


# ---------------------------------------------------------------- drawing blocks
def _label(o: Observation) -> str:
    score = f", score {o.score:.2f}" if np.isfinite(o.score) else ""
    return f"{o.node_type} {o.id}{score}"


def _text_lines(texts: List[Observation], width: int = 110, lines: int = 3
                ) -> List[Tuple[str, bool]]:
    """``(line, is_heading)``: each text's label, then its first ``lines`` wrapped lines."""
    out: List[Tuple[str, bool]] = []
    for o in texts:
        out.append((_label(o), True))
        body = textwrap.wrap(" ".join(str(o.item).split()), width)
        more = len(body) > lines
        body = body[:lines]
        if more:
            body[-1] = body[-1] + " …"
        out += [(line, False) for line in body or ["(empty)"]]
    return out


LINE_POINTS = 11.0         # text line pitch of the evidence panel, in points


def _draw_texts(ax, texts: List[Observation], width: int = 110, lines: int = 3) -> None:
    ax.set_axis_off()
    rows = [("texts (most anomalous first)", None)] + _text_lines(texts, width, lines)
    for k, (line, heading) in enumerate(rows):
        ax.annotate(line, xy=(0, 1), xycoords="axes fraction", xytext=(0, -k * LINE_POINTS),
                    textcoords="offset points", va="top", annotation_clip=False,
                    fontsize=9 if heading is None else 8 if heading else 7.5,
                    fontweight="bold" if heading else "normal",
                    family="serif" if heading is False else "sans-serif")


def _draw_image(ax, o: Observation) -> None:
    from ..encoders.image import load_image
    ax.set_xticks([]), ax.set_yticks([])
    img = load_image(o.item) if o.item is not None else None
    if img is None:
        ax.text(0.5, 0.5, "image not readable", ha="center", va="center", fontsize=7,
                transform=ax.transAxes)
    else:
        img.thumbnail((160, 160))
        ax.imshow(np.asarray(img))
    ax.set_title(shorten(_label(o), 34), fontsize=7.5)


def _draw_series(ax, o: Observation, band: Optional[SeriesBand]) -> None:
    times, values = o.item
    values = np.asarray(values, float)
    if band is not None and len(values):
        centres = (band.edges[:-1] + band.edges[1:]) / 2
        x = centres.astype("datetime64[s]") if band.dates else centres
        ax.fill_between(x, band.lo, band.hi, color="#BBBBBB", alpha=0.6,
                        label="peers 5-95%", step="mid")
        ax.plot(x, band.mid, color="#888888", lw=0.8, label="peers median",
                drawstyle="steps-mid")
        own = band.binned(times if times is not None else None, values)
        ax.plot(x, own, color=FLAG_COLOUR, lw=1.3, label="this series",
                drawstyle="steps-mid")
        ax.legend(fontsize=6, frameon=False, loc="upper left")
        ax.set_ylabel(f"sum per {_bin_width(band)}", fontsize=7)
    elif len(values):
        x = np.arange(len(values)) if times is None else np.asarray(times)
        ax.plot(x, values, color=FLAG_COLOUR, lw=1.2)
    else:
        ax.text(0.5, 0.5, "empty series", ha="center", va="center", fontsize=7,
                transform=ax.transAxes)
    ax.tick_params(labelsize=6)
    for label in ax.get_xticklabels():
        label.set_rotation(20)
    ax.set_title(_label(o), fontsize=8)


def _bin_width(band: SeriesBand) -> str:
    step = float(band.edges[1] - band.edges[0])
    if not band.dates:
        return f"{step:.3g} steps"
    for unit, seconds in (("day", 86400.0), ("hour", 3600.0), ("minute", 60.0)):
        if step >= seconds:
            return f"{step / seconds:.3g} {unit}s"
    return f"{step:.3g} s"


# ---------------------------------------------------------------- panels
def evidence_panel(graph: Any, node: Any, scores: Optional[Mapping] = None,
                   detector: Any = None, max_texts: int = 3, max_images: int = 4,
                   max_series: int = 2, bands: Optional[Dict[str, SeriesBand]] = None,
                   texts: bool = True, width: float = 9.0):
    """A node's observations in one figure: its texts (most anomalous first), photo
    thumbnails and time series against the peers' 5-95% band.

    Args:
        graph: the scored graph; node: ``(type, id)`` or ``"type:id"``.
        scores: ``{type: Tensor[n]}`` (``detector.decision_function(graph)`` where not
            given and a detector is), to order and label the observations.
        bands: a cache ``{series type: SeriesBand}``, filled as needed (share it when
            drawing many panels of one graph).
        texts: draw the texts (a report writes them as HTML instead).

    Raises:
        GraphadError: the node has no observations to show.
    """
    bundle = as_bundle(graph)
    if scores is None and detector is not None:
        scores = detector.decision_function(bundle)
    t, idx = _resolve(bundle, node)
    obs = linked_observations(bundle, (t, bundle.ids.external(t, [idx])[0]), scores)
    shown_texts = [o for o in obs if o.modality == "text"][:max_texts] if texts else []
    images = [o for o in obs if o.modality == "image"][:max_images]
    series = [o for o in obs if o.modality == "series"][:max_series]
    if not (shown_texts or images or series):
        raise GraphadError(f"{t} {bundle.ids.external(t, [idx])[0]} has no "
                           f"{'text, ' if texts else ''}image or series observations "
                           "to show")
    bands = {} if bands is None else bands
    rows = int(bool(shown_texts)) + int(bool(images or series))
    text_rows = len(_text_lines(shown_texts)) if shown_texts else 0
    heights = ([0.2 + (text_rows + 1) * LINE_POINTS / 72] if shown_texts else []) + (
        [2.2] if images or series else [])
    fig = new_figure(width, sum(heights) + 0.4)
    grid = fig.add_gridspec(rows, 4, height_ratios=heights)
    row = 0
    if shown_texts:
        _draw_texts(fig.add_subplot(grid[row, :]), shown_texts)
        row += 1
    if images or series:
        n_img = min(len(images), 4 if not series else 2)
        for k, o in enumerate(images[:n_img]):
            _draw_image(fig.add_subplot(grid[row, k]), o)
        free = list(range(n_img, 4))
        if series:
            per = max(len(free) // len(series), 1)
            for k, o in enumerate(series[: len(free)]):
                cols = free[k * per: (k + 1) * per] if k < len(series) - 1 else free[k * per:]
                ax = fig.add_subplot(grid[row, cols[0]: cols[-1] + 1])
                _draw_series(ax, o, _band(bundle, o.node_type, bands))
    fig.suptitle(f"evidence of {t} {bundle.ids.external(t, [idx])[0]}", fontsize=10)
    return fig


def _band(bundle: GraphBundle, t: str, bands: Dict[str, SeriesBand]) -> Optional[SeriesBand]:
    if t not in bands:
        try:
            bands[t] = series_band(bundle, t)
        except GraphadError:
            bands[t] = None           # no peers with points: the series is drawn alone
    return bands[t]


def plot_cross_modal(graph: Any, explanation: Any, scores: Optional[Mapping] = None,
                     bands: Optional[Dict[str, SeriesBand]] = None, width: float = 9.0):
    """The modality pair that disagrees most for an entity, side by side (the review
    next to the photo, the photo next to the spending), with the pair's disagreement.

    Args:
        explanation: the entity's :class:`~graphad.scoring.explain.Explanation` (its
            ``modalities`` table says which pair disagrees most).

    Raises:
        GraphadError: the explanation has no modality pairs (one modality or none).
    """
    table = explanation.modalities
    if table is None or table.empty:
        raise GraphadError(f"{explanation.node_type} {explanation.node_id} has no pair of "
                           "modalities to compare")
    bundle = as_bundle(graph)
    pair = table.sort_values("z", ascending=False).iloc[0]
    a_type, b_type = [p.strip() for p in str(pair["pair"]).split("~")]
    obs = linked_observations(bundle, (explanation.node_type, explanation.node_id), scores)
    picked = [next((o for o in obs if o.node_type == t), None) for t in (a_type, b_type)]
    fig = new_figure(width, 2.8)
    axes = fig.subplots(1, 2)
    bands = {} if bands is None else bands
    for ax, o in zip(axes, picked):
        if o is None:
            ax.set_axis_off()
        elif o.modality == "text":
            _draw_texts(ax, [o], width=55, lines=8)
        elif o.modality == "image":
            _draw_image(ax, o)
        else:
            _draw_series(ax, o, _band(bundle, o.node_type, bands))
    fig.suptitle(f"{explanation.node_type} {explanation.node_id}: {pair['pair']} disagree "
                 f"(z {pair['z']:.2f}, more than {pair['percentile']:.0f}% of entities "
                 "with both)", fontsize=9.5)
    return fig
