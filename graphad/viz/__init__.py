"""Pictures of the evidence (matplotlib + networkx; every function returns a
``matplotlib.figure.Figure``, detached from pyplot).

* :func:`plot_score_distribution`: scores per node type with the flagging threshold;
* :func:`plot_contributions`: one node's score as bars that add up to it;
* :func:`draw_subgraph`: a group drawn with types as colours / shapes, scores as size;
* :func:`evidence_panel`: a node's texts, photos and series against its peers' band;
* :func:`plot_cross_modal`: the two modalities that disagree most, side by side;
* :func:`write_report`: one static HTML page of all of it for the top entities.
"""
from .evidence import (SeriesBand, evidence_panel, linked_observations, plot_cross_modal,
                       series_band)
from .report import render_report, write_report
from .scores import plot_contributions, plot_score_distribution
from .subgraph import draw_subgraph

__all__ = ["plot_score_distribution", "plot_contributions", "draw_subgraph",
           "evidence_panel", "plot_cross_modal", "linked_observations", "series_band",
           "SeriesBand", "render_report", "write_report"]
