"""One static HTML page an analyst can send: summary, score distribution, the top
entities each with its explanation and evidence, and the top subgraphs drawn.

Every figure is an inline PNG (``data:`` URI) and the style sheet is inline, so the
file opens anywhere without network access.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import pandas as pd
import torch

from ..data.bundle import as_bundle
from ..errors import GraphadError
from ..scoring.explain import shown_table
from ._figure import png_bytes

FIGURES_OPEN = 10          # entities shown unfolded; the rest fold under their heading
CROSS_MODAL_PERCENTILE = 95.0   # draw the pair side by side from this percentile on
CROSS_MODAL_SHARE = 0.1         # ... or where cross-modal terms carry this share

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;
 max-width:1100px;padding:0 18px 40px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left} th{background:#f4f4f4}
tr.flag td:first-child{border-left:4px solid #C0392B}
img{max-width:100%} .meta{color:#666;font-size:.9em}
.reason{background:#fbf3e6;border-left:4px solid #e69c24;padding:4px 10px;margin:.4em 0}
details{margin:.3em 0 1em} summary{cursor:pointer;font-weight:600}
section.entity{border-top:1px solid #eee;padding-top:.4em}
.scroll{max-height:28em;overflow-y:auto;border:1px solid #eee}
ul.texts{font-size:.9em} ul.texts q{font-family:Georgia,serif}
"""


def _img(fig, alt: str, dpi: int = 90) -> str:
    from matplotlib.figure import Figure
    data = base64.b64encode(png_bytes(fig, dpi=dpi)).decode("ascii")
    if isinstance(fig, Figure):
        fig.clear()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, max_rows: int = 8) -> str:
    if frame is None or frame.empty:
        return ""
    return shown_table(frame.head(max_rows)).to_html(index=False, escape=True, border=0)


def _anchor(node_type: str, node_id: Any) -> str:
    return "n-" + "".join(c if c.isalnum() or c in "-_" else "_"
                          for c in f"{node_type}-{node_id}")


def top_entities(bundle, scores: Dict[str, torch.Tensor], top: int,
                 node_types: Optional[Sequence[str]] = None) -> pd.DataFrame:
    """The ``top`` highest scores over the entity types (``node_type, id, score``);
    scores of all types are in one unit, so they rank together."""
    types = list(node_types) if node_types else [t for t in bundle.entity_types
                                                 if t in scores]
    missing = [t for t in types if t not in scores]
    if missing:
        raise GraphadError(f"no scores for node type(s) {missing}; scored: "
                           f"{sorted(scores)}")
    frames = [pd.DataFrame({"node_type": t, "idx": range(scores[t].numel()),
                            "score": scores[t].double().numpy()}) for t in types]
    table = pd.concat(frames, ignore_index=True).dropna(subset=["score"])
    table = table.sort_values("score", ascending=False, kind="stable").head(top)
    table["id"] = [bundle.ids.external(t, [i])[0] for t, i in
                   zip(table["node_type"], table["idx"])]
    return table[["node_type", "id", "score"]].reset_index(drop=True)


def render_report(graph: Any, detector: Any, top: int = 20, subgraphs: int = 5,
                  node_types: Optional[Sequence[str]] = None,
                  title: str = "graphad report") -> str:
    """The report as one HTML string.

    Args:
        graph: the graph to score (``GraphBundle`` ...); detector: a fitted detector.
        top: entities listed and explained (highest scores over ``node_types``,
            default every entity type).
        subgraphs: suspicious groups drawn (0: none).
    """
    from ..scoring.discover import find_suspicious_subgraphs
    from ..scoring.explain import all_edge_scores, explain
    from ..scoring.subgraph_explanation import explain_subgraph
    from ..scoring.graphview import GraphView
    from .evidence import evidence_panel, linked_observations, plot_cross_modal
    from .scores import plot_score_distribution
    from .subgraph import draw_subgraph
    if not isinstance(top, int) or top < 1:
        raise GraphadError(f"top must be a positive integer, got {top!r}")
    bundle = as_bundle(graph)
    comps = detector.score_components(bundle)
    scores = detector.combine(comps)
    thresholds = dict(getattr(detector, "threshold_", None) or {})
    leaders = top_entities(bundle, scores, top, node_types)
    view, edges, cache, bands = GraphView(bundle), all_edge_scores(bundle, detector), {}, {}
    name = type(detector).__name__

    parts: List[str] = [f"<h1>{html.escape(title)}</h1>",
                        f'<p class="meta">{html.escape(name)} on '
                        f"{html.escape(repr(bundle))}</p>", "<h2>Summary</h2>",
                        _summary(bundle, scores, thresholds),
                        _img(plot_score_distribution(
                            {t: s for t, s in scores.items() if s.numel()}, thresholds),
                            "score distribution per node type")]
    found = [explain(bundle, (row.node_type, row.id), detector, 5, view, components=comps,
                     scores=scores, edge_scores=edges, cache=cache)
             for row in leaders.itertuples(index=False)]
    parts += ["<h2>Top entities</h2>", _leader_table(leaders, found)]
    for (k, row), ex in zip(leaders.iterrows(), found):
        body = [f'<div class="reason">{html.escape(ex.reason)}</div>',
                f"<p>score {ex.score:.3f}, rank {ex.rank} of {ex.n} {ex.node_type}"
                f"{'s' if ex.n != 1 else ''}"
                + ("" if ex.threshold is None else f", threshold {ex.threshold:.3f}")
                + "</p>",
                _contribution_bars(ex)]
        dpi = 80 if k < FIGURES_OPEN else 64
        obs = linked_observations(bundle, (row.node_type, row.id), scores)
        body.append(_texts_html([o for o in obs if o.modality == "text"]))
        if any(o.modality != "text" for o in obs):
            body.append(_img(evidence_panel(bundle, (row.node_type, row.id), scores=scores,
                                            bands=bands, texts=False),
                             f"evidence of {row.node_type} {row.id}", dpi=dpi))
        if _disagrees(ex):
            body.append(_img(plot_cross_modal(bundle, ex, scores=scores, bands=bands),
                             f"cross-modal disagreement of {row.node_type} {row.id}",
                             dpi=dpi))
        tables = "".join(f"<h4>{html.escape(label)}</h4>{_table(frame)}"
                         for label, frame in ex._sections() if frame is not None
                         and not frame.empty)
        body.append(f"<details><summary>tables</summary>{tables}</details>")
        opened = " open" if k < FIGURES_OPEN else ""
        parts.append(f'<section class="entity" id="{_anchor(row.node_type, row.id)}">'
                     f"<details{opened}><summary>#{k + 1} {html.escape(str(row.node_type))}"
                     f" {html.escape(str(row.id))} (score {row.score:.2f})</summary>"
                     + "".join(body) + "</details></section>")
    if subgraphs:
        parts.append("<h2>Suspicious groups</h2>")
        found = find_suspicious_subgraphs(bundle, detector, k=subgraphs)
        if not found:
            parts.append("<p>No group passed the grouping tests.</p>")
        for sg in found:
            why = explain_subgraph(bundle, sg, detector, scores=scores, view=view,
                                   components=comps)
            members = "; ".join(f"{t}: " + ", ".join(map(str, ids))
                                for t, ids in sg.members.items() if len(ids))
            parts.append(f"<h3>Group #{sg.rank}: {html.escape(sg.describe())} "
                         f"(score {sg.score:.2f})</h3>"
                         f'<div class="reason">{html.escape(why.reason)}</div>'
                         + _img(draw_subgraph(bundle, sg, scores=scores,
                                              thresholds=thresholds),
                                f"group {sg.rank}", dpi=80)
                         + f"<details><summary>members</summary><p>"
                         f"{html.escape(members)}</p></details>")
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def _disagrees(ex: Any) -> bool:
    """Whether the entity's modalities disagree enough to be drawn side by side: its
    cross-modal components carry at least a tenth of its score, or its most
    disagreeing pair is beyond the 95th percentile of the entities that have both."""
    table = ex.modalities
    if table is None or table.empty:
        return False
    contrib = ex.contributions
    cross = contrib[contrib["component"].str.startswith("cross_modal")]
    return bool(cross["share"].sum() >= CROSS_MODAL_SHARE
                or table["percentile"].max() >= CROSS_MODAL_PERCENTILE)


def _texts_html(texts: List[Any], limit: int = 3, chars: int = 600) -> str:
    """The entity's texts, most anomalous first, as quoted paragraphs."""
    if not texts:
        return ""
    items = []
    for o in texts[:limit]:
        body = " ".join(str(o.item).split())
        body = body if len(body) <= chars else body[: chars - 1] + "…"
        score = f", score {o.score:.2f}" if math.isfinite(o.score) else ""
        items.append(f"<li><b>{html.escape(f'{o.node_type} {o.id}')}</b>{score}<br>"
                     f"<q>{html.escape(body)}</q></li>")
    more = f"<li>… and {len(texts) - limit} more</li>" if len(texts) > limit else ""
    return ("<p><b>texts</b> (most anomalous first)</p><ul class=\"texts\">"
            + "".join(items) + more + "</ul>")


def _contribution_bars(ex: Any, top: int = 8) -> str:
    """The score split into components as an HTML table with inline bars (they add
    up to the score), plus each component's value ``z``."""
    table = ex.contributions.head(top)
    peak = max(float(table["contribution"].max()), 1e-12)
    rows = []
    for r in table.itertuples(index=False):
        width = 100.0 * max(float(r.contribution), 0.0) / peak
        rows.append(f"<tr><td>{html.escape(str(r.component))}</td><td>{r.z:.2f}</td>"
                    f"<td>{r.contribution:.3f}</td><td style=\"width:260px\"><div "
                    f"style=\"background:#C0392B;height:10px;width:{width:.1f}%\">"
                    "</div></td></tr>")
    return (f"<table><tr><th>component</th><th>z ({html.escape(ex.unit)})</th>"
            "<th>contribution</th><th></th></tr>" + "".join(rows) + "</table>")


def _summary(bundle, scores: Dict[str, torch.Tensor], thresholds: Dict[str, float]) -> str:
    rows = []
    for t in bundle.node_types:
        s = scores.get(t)
        if s is None or not s.numel():
            continue
        thr = thresholds.get(t)
        flagged = int((s > thr).sum()) if thr is not None else None
        rows.append({"node type": t, "nodes": int(s.numel()),
                     "kind": bundle.modality.get(t) or "entity",
                     "threshold": math.nan if thr is None else float(thr),
                     "flagged": flagged, "max score": float(s.max())})
    return _table(pd.DataFrame(rows), max_rows=len(rows))


def _leader_table(leaders: pd.DataFrame, found: List[Any]) -> str:
    """Position over all entity types, type, id (a link to its section), score, rank
    within its type, flagged and the one-line reason; a scrolling box past a
    screenful of rows."""
    rows = []
    for (k, row), ex in zip(leaders.iterrows(), found):
        link = f'<a href="#{_anchor(row.node_type, row.id)}">{html.escape(str(row.id))}</a>'
        rows.append(f'<tr class="{"flag" if ex.flagged else ""}"><td>{k + 1}</td>'
                    f"<td>{html.escape(str(row.node_type))}</td><td>{link}</td>"
                    f"<td>{row.score:.3f}</td><td>{ex.rank} of {ex.n}</td>"
                    f"<td>{'yes' if ex.flagged else 'no'}</td>"
                    f"<td>{html.escape(ex.reason)}</td></tr>")
    return ('<div class="scroll"><table><tr><th>#</th><th>type</th><th>id</th>'
            "<th>score</th><th>rank in type</th><th>flagged</th><th>why</th></tr>"
            + "".join(rows)
            + "</table></div>")


def write_report(path: Union[str, Path], graph: Any, detector: Any, top: int = 20,
                 subgraphs: int = 5, node_types: Optional[Sequence[str]] = None,
                 title: str = "graphad report") -> Path:
    """:func:`render_report` written atomically to ``path`` (``.html``)."""
    from ..data.io import atomic_write_text, check_writable
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise GraphadError(f"{path}: the report is HTML; name it .html")
    check_writable(path)
    atomic_write_text(path, render_report(graph, detector, top=top, subgraphs=subgraphs,
                                          node_types=node_types, title=title))
    return path
