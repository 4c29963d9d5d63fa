"""VGG19 feature extractor for the ID-MRF loss.

The module indices are those of torchvision's `vgg19().features`, so a torchvision state dict
(`features.0.weight` ... `features.34.bias`; the `classifier.*` keys are ignored) loads as is:

    idx  0 conv1_1   2 conv1_2   4 pool1
         5 conv2_1   7 conv2_2   9 pool2
        10 conv3_1  12 conv3_2  14 conv3_3  16 conv3_4  18 pool3
        19 conv4_1  21 conv4_2  ...                      (each conv is followed by its ReLU)

ID-MRF reads relu3_2 (index 13) and relu4_2 (index 22), so only indices 0..22 are built.
As in the official TF code (MatConvNet VGG19 built with `avg` pooling, ops.py L537), the pooling
layers are *average* pools, not torchvision's max pools; the weights are the same either way.

Weights come from a file with a checksum (`load_vgg19`); production downloads torchvision's
ImageNet `vgg19-dcbb9e9d.pth`. A seeded random-init VGG19 (`random_vgg19`) exists for machines
without the file (tests, smoke runs) and must be asked for explicitly (`--random-vgg`); the
trainer records it in every checkpoint's config and the manifest says `random_vgg: true`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn as nn

# torchvision's cfgs["E"] (vgg19) up to conv4_2; "M" = pooling layer.
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512]
# The TF code calls the post-ReLU outputs "conv3_2"/"conv4_2" (conv + relu in build_vgg19); both names work.
LAYERS = {"relu3_2": 13, "relu4_2": 22, "conv3_2": 13, "conv4_2": 22}
TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
TORCHVISION_SHA256_PREFIX = "dcbb9e9d"  # torch.hub convention: the file name carries the sha256 prefix

# Input normalisation. "torchvision": what torchvision's ImageNet weights were trained on,
# ((x+1)/2 - mean) / std. "caffe": the TF code's literal input, (x+1)*127.5 - mean*255 (right for
# the MatConvNet/Caffe weights it used, 58x too large for torchvision's weights).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_255 = (123.68, 116.779, 103.939)  # RGB; we train in RGB, so no BGR quirk here
INPUT_MODES = ("torchvision", "caffe")


class VGG19Features(nn.Module):
    def __init__(self, pool: str = "avg", input_mode: str = "torchvision"):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError("pool must be avg or max")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {INPUT_MODES}")
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.AvgPool2d(2, 2) if pool == "avg" else nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*layers)  # indices 0..22, as torchvision's
        self.input_mode = input_mode
        if input_mode == "torchvision":
            mean, scale = torch.tensor(IMAGENET_MEAN), 1.0 / torch.tensor(IMAGENET_STD)
        else:
            mean, scale = torch.tensor(CAFFE_MEAN_255) / 255.0, torch.full((3,), 255.0)
        # x in [-1,1] -> ((x+1)/2 - mean) * scale
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) * 0.5 - self.mean) * self.scale

    def forward(self, x: torch.Tensor, names=("relu3_2", "relu4_2")) -> dict[str, torch.Tensor]:
        """x: N,3,H,W RGB in [-1,1]. Returns {name: post-ReLU feature map}."""
        want = {LAYERS[n]: n for n in names}
        last = max(want)
        out = {}
        h = self.preprocess(x)
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in want:
                out[want[i]] = h
            if i == last:
                break
        return out

    def train(self, mode: bool = True):  # always frozen, always eval
        return super().train(False)


def _init_like_torchvision(m: VGG19Features, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in m.features:
            if isinstance(layer, nn.Conv2d):
                # kaiming_normal_(mode="fan_out", nonlinearity="relu"), bias 0 (torchvision's VGG init)
                fan_out = layer.out_channels * layer.kernel_size[0] * layer.kernel_size[1]
                std = (2.0 / fan_out) ** 0.5
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * std)
                layer.bias.zero_()


def random_vgg19(seed: int = 0, pool: str = "avg", input_mode: str = "torchvision") -> VGG19Features:
    """Untrained VGG19 (torchvision's init, seeded). For tests and for runs behind --random-vgg only."""
    m = VGG19Features(pool, input_mode)
    _init_like_torchvision(m, seed)
    return m.eval()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: str | Path, expected: str) -> str:
    """Compare with a full hex digest or a prefix of at least 8 hex digits (torch.hub's file-name
    convention, e.g. vgg19-dcbb9e9d.pth). Returns the full digest; raises ValueError on mismatch."""
    expected = expected.strip().lower()
    if len(expected) < 8 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"vgg sha256 must be a hex digest or a prefix of >= 8 hex digits, got {expected!r}")
    digest = sha256_file(path)
    if not digest.startswith(expected):
        raise ValueError(f"checksum mismatch for {path}: sha256 {digest}, expected {expected}...")
    return digest


def extract_features_state(sd: dict) -> dict[str, torch.Tensor]:
    """The `features.N.*` entries (N <= 21) of a torchvision vgg19 state dict, also accepting one
    wrapped in {"state_dict": ...} or with a `module.` / `vgg.` prefix."""
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    out = {}
    for k, v in sd.items():
        key = k
        for prefix in ("module.", "vgg.", "model."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "features" and parts[1].isdigit() and int(parts[1]) <= 21:
            out[key] = v
    return out


def load_vgg19(path: str, sha256: str, pool: str = "avg", input_mode: str = "torchvision") -> tuple[VGG19Features, str]:
    """VGG19 features from a torchvision-format state dict file, after checking its sha256.
    Returns (model, full sha256 of the file)."""
    if not path:
        raise ValueError("no VGG19 weights file given")
    if not Path(path).is_file():
        raise FileNotFoundError(f"VGG19 weights not found: {path}")
    if not sha256:
        raise ValueError("a checksum is required for the VGG19 weights (full sha256 or >= 8-digit prefix)")
    digest = check_sha256(path, sha256)
    sd = torch.load(path, map_location="cpu")
    feats = extract_features_state(sd)
    m = VGG19Features(pool, input_mode)
    missing = [k for k in m.state_dict() if k not in feats]
    if missing:
        raise ValueError(f"{path} is not a torchvision vgg19 state dict: missing {missing[:4]}...")
    m.load_state_dict(feats, strict=True)
    return m.eval(), digest


def feature_size(h: int, name: str) -> int:
    """Spatial size of a feature map for an input of size h (the VGG pools floor)."""
    pools = 2 if name.endswith("3_2") else 3
    for _ in range(pools):
        h = h // 2
    return h
