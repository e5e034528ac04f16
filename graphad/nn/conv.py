"""``EdgeSAGEConv``: GraphSAGE whose messages also see the edge's attributes.

It gathers and scatters itself instead of subclassing PyG's ``MessagePassing``: that
base class renders and compiles a Jinja template of ``propagate`` for each new layer
class in each process (about 0.1 s, most of a fit on a graph of a hundred nodes, paid by
every ``graphad score``), for a layer that needs one gather and one scatter-mean.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import scatter


class EdgeSAGEConv(nn.Module):
    r"""Mean-aggregation SAGE layer with edge attributes.

    .. math::
        h_v = W_1 x_v + \frac{1}{|N(v)|}\sum_{u \in N(v)} \mathrm{ReLU}(W_2 x_u + W_3 e_{uv})

    Args:
        in_channels: input size, or ``(src, dst)`` sizes; ``-1`` for lazy.
        out_channels: output size.
        edge_dim: edge attribute size (None: no edge attributes).

    Shapes:
        - **input:** ``x`` ``[n, F]`` or ``([n_src, F_s], [n_dst, F_d])``, ``edge_index``
          ``[2, m]``, ``edge_attr`` ``[m, edge_dim]`` (optional)
        - **output:** ``[n_dst, out_channels]``
    """

    def __init__(self, in_channels: Union[int, Tuple[int, int]], out_channels: int,
                 edge_dim: Optional[int] = None, aggr: str = "mean"):
        super().__init__()
        self.aggr = aggr
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        self.in_channels, self.out_channels, self.edge_dim = in_channels, out_channels, edge_dim
        self.lin_src = Linear(in_channels[0], out_channels)
        self.lin_dst = Linear(in_channels[1], out_channels, bias=False)
        self.lin_edge = Linear(edge_dim, out_channels, bias=False) if edge_dim else None

    def reset_parameters(self) -> None:
        self.lin_src.reset_parameters()
        self.lin_dst.reset_parameters()
        if self.lin_edge is not None:
            self.lin_edge.reset_parameters()

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]], edge_index: Tensor,
                edge_attr: Optional[Tensor] = None) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        src = self.lin_src(x[0])  # transform nodes once, not every edge
        msg = src.index_select(0, edge_index[0])
        if self.lin_edge is not None and edge_attr is not None:
            msg = msg + self.lin_edge(edge_attr)
        out = scatter(F.relu(msg), edge_index[1], dim=0, dim_size=x[1].size(0),
                      reduce=self.aggr)
        return out + self.lin_dst(x[1])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"edge_dim={self.edge_dim})")
