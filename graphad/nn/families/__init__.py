"""Component families of the graph autoencoder, one file each (see :mod:`.base`).

Importing this package registers every family's spec and precompute step.
"""
from .attribute import AttributeFamily
from .base import ComponentFamily, precompute_all, register_precompute
from .block import BlockFamily
from .burst import BurstFamily
from .consistency import ConsistencyFamily
from .context import ContextFamily
from .copies import CopiesFamily
from .cross_modal import CrossModalFamily
from .degree import DegreeFamily
from .density import DensityFamily
from .edge_evidence import EdgeEvidenceFamily
from .edge_fit import EdgeFitFamily
from .incident import IncidentFamily
from .outlier import OutlierFamily
from .peers import PeerFamily
from .structure import StructureFamily
from .within import WithinFamily

__all__ = ["ComponentFamily", "AttributeFamily", "StructureFamily", "ConsistencyFamily",
           "ContextFamily", "CopiesFamily", "CrossModalFamily", "DegreeFamily", "BlockFamily", "DensityFamily",
           "EdgeEvidenceFamily", "EdgeFitFamily", "IncidentFamily", "BurstFamily", "PeerFamily",
           "OutlierFamily", "WithinFamily", "precompute_all", "register_precompute"]
