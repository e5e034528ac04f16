"""``ComponentFamily``: one kind of error component as one unit of code.

A family owns its inputs, its training loss (if it learns), its per-node and per-edge
errors and the details an explanation shows; its wording lives in its
:class:`~graphad.components.ComponentSpec`, registered in the same file. Families that
need whole-graph, untrained evidence (exact also in mini-batches) add it to the
prepared graph in a ``precompute(data)`` function registered with
:func:`register_precompute`.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ...typing import EdgeType, NodeType

Errors = Dict[NodeType, Dict[str, Tensor]]
EdgeErrors = Dict[EdgeType, Tensor]
Latents = Dict[NodeType, Tensor]
Precompute = Callable[[HeteroData, Dict[NodeType, int]], None]

_PRECOMPUTE: List[Precompute] = []

#: training nodes per own feature a type needs for a map fitted from its features or
#: to them (``edge_fit``, cross-type ``consistency``): the usual rule of thumb for a
#: regression
ROWS_PER_FEATURE = 10


def register_precompute(fn: Precompute) -> Precompute:
    """Run ``fn(prepared graph, own widths)`` in
    :func:`graphad.nn.inputs.prepare_inputs`; ``own[t]`` is how many leading columns of
    ``x`` are the type's own features (the rest are degrees and edge aggregates)."""
    if fn not in _PRECOMPUTE:
        _PRECOMPUTE.append(fn)
    return fn


def precompute_all(data: HeteroData, own: Dict[NodeType, int]) -> None:
    for fn in _PRECOMPUTE:
        fn(data, own)


class ComponentFamily(nn.Module):
    """Interface of a component family (all hooks optional but ``errors``).

    * ``fit(data)``: closed-form state from the prepared training graph (buffers).
    * ``loss(batch, z, generator)``: a training loss term, or None.
    * ``errors(batch, z)``: ``({type: {component: FloatTensor[n]}}, {relation:
      FloatTensor[m]})``, higher = more anomalous, NaN where a node lacks the
      component.
    * ``details(batch, node_type)``: rows an explanation shows, per node (see
      :class:`~graphad.nn.families.cross_modal.CrossModalFamily`).
    """

    def fit(self, data: HeteroData) -> None:
        return None

    def loss(self, batch: HeteroData, z: Latents,
             generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        return None

    def errors(self, batch: HeteroData, z: Latents) -> Tuple[Errors, EdgeErrors]:
        raise NotImplementedError

    def details(self, batch: HeteroData, node_type: NodeType) -> list:
        return []

    #: prefixes of the buffers ``fit`` registers (closed-form state), so that a saved
    #: module can declare them before a strict ``load_state_dict``
    fitted_prefixes: Tuple[str, ...] = ()

    def register_fitted(self, state: Dict[str, Tensor]) -> None:
        """Register the fitted buffers of a saved state (keys relative to this
        family) whose names start with one of :attr:`fitted_prefixes`."""
        for key, value in state.items():
            owner, _, name = key.rpartition(".")
            if name.startswith(self.fitted_prefixes):
                target = self.get_submodule(owner) if owner else self
                target.register_buffer(name, torch.zeros_like(value))


def masked(values: Tensor, present: Tensor) -> Tensor:
    """``values`` where ``present``, NaN elsewhere."""
    return torch.where(present, values, torch.full_like(values, float("nan")))


def safe_name(text: str) -> str:
    """``text`` with every character that is not a letter or digit replaced by ``_``
    (a buffer name)."""
    return "".join(c if c.isalnum() else "_" for c in text)


def fit_kept(family: nn.Module, data: HeteroData, prefix: str,
             keep: Callable[[Tensor], bool]) -> None:
    """Register a bool buffer ``kept_<type>__<detail>`` on ``family`` for each value
    ``<prefix><detail>`` a precompute hook stored on a type of the training graph:
    whether ``keep`` holds for its training nodes' values (see :func:`is_kept`)."""
    from ..inputs import training_part
    for t in data.node_types:
        store = data[t]
        for key in list(store.keys()):
            if key.startswith(prefix) and not key.endswith("__has"):
                values = training_part(store[key], store)
                family.register_buffer(
                    f"kept_{safe_name(t)}__{safe_name(key[len(prefix):])}",
                    torch.tensor(bool(keep(values))))


def is_kept(family: nn.Module, node_type: NodeType, detail: str) -> bool:
    """Whether :func:`fit_kept` kept ``detail`` of ``node_type`` (False for a value
    unseen at fit)."""
    kept = getattr(family, f"kept_{safe_name(node_type)}__{safe_name(detail)}", None)
    return kept is not None and bool(kept)


def precomputed_errors(batch: HeteroData, prefix: str,
                       name_of: Callable[[str], str]) -> Errors:
    """``{type: {component: [n]}}`` from the values a precompute hook stored on the
    graph as ``<prefix><detail>`` with a ``<prefix><detail>__has`` mask (NaN where
    absent); ``name_of(detail)`` names the component."""
    out: Errors = {}
    for t in batch.node_types:
        store = batch[t]
        for key in list(store.keys()):
            if key.startswith(prefix) and not key.endswith("__has"):
                name = name_of(key[len(prefix):])
                out.setdefault(t, {})[name] = masked(store[key], store[key + "__has"])
    return out


def trimmed_mean(err: Tensor, trim: float) -> Tensor:
    """Mean of the smallest ``1 - trim`` share of per-item errors.

    The largest errors are most likely anomalies: leaving them out of the loss keeps
    the autoencoder from learning to reproduce them (a robust autoencoder).
    """
    n = err.numel()
    keep = n - int(trim * n)
    if keep <= 0 or keep == n:
        return err.mean()
    return torch.topk(err, keep, largest=False, sorted=False).values.mean()


def two_sided_surprisal(z: Tensor) -> Tensor:
    """``-log P(|T| >= |z|)`` for Student's t with 2 degrees of freedom (0 at z = 0).

    Closed form ``P = 2 / (r (r + |z|))``, ``r = sqrt(2 + z^2)``. A heavy tail on
    purpose: real columns are skewed, discrete or one-hot (a rare category is ``z = 7``
    on a robust scale, and a normal tail would call that 1 in 10^12), while the order
    of magnitudes is kept (``z`` = 3.5, 7, 13, 100 -> 2.6, 3.9, 5.1, 9.2 nats).
    """
    a = z.abs().double()
    r = torch.sqrt(2.0 + a * a)
    return (torch.log(r) + torch.log(r + a) - math.log(2.0)).float()
