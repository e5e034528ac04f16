"""Decoders of the graph autoencoder: attributes, links + edge attributes."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class AttributeDecoder(nn.Module):
    """``z [n, hidden] -> x_hat [n, in_dim]``; error = mean squared error per node.

    With ``bottleneck`` the decoder passes through a layer narrower than its output
    (``max(2, out_dim // 4)``, at most ``hidden``), so it cannot learn the identity on
    narrow inputs and reproduce the anomalies it should flag.
    """

    def __init__(self, hidden: int, out_dim: int, bottleneck: bool = False):
        super().__init__()
        width = max(2, min(hidden, out_dim // 4)) if bottleneck else hidden
        self.net = mlp(hidden, width, out_dim)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def error(self, z: Tensor, x: Tensor) -> Tensor:
        """Per-node reconstruction error ``[n]``."""
        return (self(z) - x).pow(2).mean(dim=1)


class EdgeDecoder(nn.Module):
    """One relation: bilinear link logit ``z_u^T W z_v`` and (optionally) the edge's
    attributes from ``[z_u, z_v]``.

    Shapes:
        - **input:** ``z_src [n_s, h]``, ``z_dst [n_d, h]``, ``edge_index [2, m]``
        - **output:** logits ``[m]``, attributes ``[m, edge_dim]`` or None
    """

    def __init__(self, hidden: int, edge_dim: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(hidden, hidden))
        nn.init.xavier_uniform_(self.weight)
        self.attr = mlp(2 * hidden, hidden, edge_dim) if edge_dim else None

    def logits(self, z_src: Tensor, z_dst: Tensor, edge_index: Tensor) -> Tensor:
        """``[m]`` link logits."""
        src, dst = edge_index
        zd = z_dst.index_select(0, dst)
        return (_rows_times(z_src, src, self.weight) * zd).sum(dim=-1)

    def forward(self, z_src: Tensor, z_dst: Tensor, edge_index: Tensor
                ) -> Tuple[Tensor, Optional[Tensor]]:
        logit = self.logits(z_src, z_dst, edge_index)
        if self.attr is None:
            return logit, None
        src, dst = edge_index
        w_src, w_dst, bias = self._first_layer(z_src.size(1))
        hidden = _rows_times(z_src, src, w_src) + _rows_times(z_dst, dst, w_dst) + bias
        return logit, self._attr_head(hidden)

    def node_terms(self, z_src: Tensor, z_dst: Tensor
                   ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        """The per-node parts of the decoder, computed once for many edges:
        ``z_src W [n_s, h]`` and, with an attribute head, its first layer split by
        endpoint (``[n_s, h]``, ``[n_d, h]`` with the bias), so an edge costs two gathers
        instead of an ``[h, h]`` product."""
        zw = z_src @ self.weight
        if self.attr is None:
            return zw, None, None
        w_src, w_dst, bias = self._first_layer(z_src.size(1))
        return zw, z_src @ w_src, z_dst @ w_dst + bias

    def _first_layer(self, hidden: int) -> Tuple[Tensor, Tensor, Tensor]:
        """The attribute head's first layer on ``[z_u, z_v]`` split by endpoint:
        ``(W_u^T [h, h], W_v^T [h, h], bias [h])``."""
        first = self.attr[0]
        return first.weight[:, :hidden].t(), first.weight[:, hidden:].t(), first.bias

    def _attr_head(self, hidden: Tensor) -> Tensor:
        """The attribute head after its first layer."""
        return self.attr[2](self.attr[1](hidden))

    def edge_errors(self, z_src: Tensor, z_dst: Tensor, edge_index: Tensor,
                    edge_attr: Optional[Tensor],
                    terms: Optional[Tuple[Tensor, Optional[Tensor],
                                          Optional[Tensor]]] = None) -> Tensor:
        """Per-edge error ``[m]``: -log p(edge) plus the attribute squared error (the
        same values as :meth:`forward` gives); ``terms``: :meth:`node_terms`, when
        already computed."""
        zw, a_src, a_dst = self.node_terms(z_src, z_dst) if terms is None else terms
        src, dst = edge_index
        err = F.softplus(-(zw[src] * z_dst[dst]).sum(dim=-1))
        if a_src is not None and edge_attr is not None:
            attr = self._attr_head(a_src[src] + a_dst[dst])
            err = err + (attr - edge_attr).pow(2).mean(dim=-1)
        return err


def _rows_times(z: Tensor, rows: Tensor, weight: Tensor) -> Tensor:
    """``z[rows] @ weight`` ``[m, out]``, multiplied per node first where there are more
    rows than nodes (every edge of a node then costs a gather, not a product).
    ``index_select``: its backward is a fast ``index_add``, where ``z[rows]``'s is a
    slow accumulating ``index_put`` on CPU."""
    if rows.numel() > z.size(0):
        return (z @ weight).index_select(0, rows)
    return z.index_select(0, rows) @ weight
