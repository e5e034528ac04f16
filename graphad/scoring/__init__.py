"""Scoring: normalisation, thresholds, roll-ups, score tables, subgraphs, explanations.

Subgraph scores, discovery and explanations load on first use::

    from graphad.scoring import find_suspicious_subgraphs, explain_subgraph
    from graphad.scoring.explain import explain     # the module has the function's name
"""
_LAZY = {
    "Subgraph": ".subgraph", "score_subgraphs": ".subgraph",
    "find_suspicious_subgraphs": ".discover", "evaluate_subgraph_recovery": ".discover",
    "recovery_summary": ".discover",
    "Explanation": ".explain",
    "SubgraphExplanation": ".subgraph_explanation",
    "explain_subgraph": ".subgraph_explanation",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_LAZY)
