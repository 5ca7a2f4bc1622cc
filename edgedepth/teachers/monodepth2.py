"""Monodepth2 (nianticlabs/monodepth2) checkpoints as a mono teacher: `monodepth2:FOLDER` holding the official
`encoder.pth` (a torchvision ResNet-18/50 under `encoder.`, its unused `fc` included, plus the training
`height`, `width` and `use_stereo`) and `depth.pth` (the DepthDecoder, scales 0–3).

As the official code runs them: the image is resized (Lanczos) to the encoder file's width × height, RGB in
[0, 1]; the
encoder normalises with (x − 0.45) / 0.225; the decoder (reflection-padded 3×3 convolutions, ELU, nearest ×2
upsampling, skips from the encoder) ends in a sigmoid disparity at scale 0; `disp_to_depth(disp, 0.1, 100)`
maps it to a scaled disparity 1/100 … 1/0.1. Models trained on stereo pairs (`use_stereo`) are metric with the
official ×5.4 (depth = 5.4 / scaled disparity); monocular ones are relative inverse depth (scale unknown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgedepth.checkpoint import checkpoint_sha256, load_torch_file, load_weights_strict
from edgedepth.data.sample import StereoSample
from edgedepth.models.resnet import ResNet
from edgedepth.teachers.base import Prediction, Teacher, dense_prediction
from edgedepth.teachers.registry import TeacherConfigError
from edgedepth.threads import torch_threads
from runtime.bundle import METRIC, RELATIVE

MIN_DEPTH, MAX_DEPTH = 0.1, 100.0
STEREO_SCALE = 5.4  # the official factor from the rig's baseline to metres
DECODER_CHANNELS = (16, 32, 64, 128, 256)
SCALES = (0, 1, 2, 3)
OPTIONS = ("height", "width", "use_stereo")  # what encoder.pth holds besides tensors


class Conv3x3(nn.Module):
    """Reflection pad 1, then a 3×3 convolution (the official layer; its weights live under `.conv`)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class ConvBlock(nn.Module):
    """Conv3x3 then ELU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = Conv3x3(cin, cout)
        self.nonlin = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv(x))


class DepthDecoder(nn.Module):
    """The official decoder; `decoder` holds its convolutions in the official order (upconv 4,0 … 0,1, then
    dispconv 0 … 3), which is what the checkpoint's `decoder.N` keys number."""

    def __init__(self, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        layers = []
        for i in range(4, -1, -1):
            cin = encoder_channels[-1] if i == 4 else DECODER_CHANNELS[i + 1]
            layers.append(ConvBlock(cin, DECODER_CHANNELS[i]))
            skip = encoder_channels[i - 1] if i > 0 else 0
            layers.append(ConvBlock(DECODER_CHANNELS[i] + skip, DECODER_CHANNELS[i]))
        layers += [Conv3x3(DECODER_CHANNELS[s], 1) for s in SCALES]
        self.decoder = nn.ModuleList(layers)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The sigmoid disparity at scale 0 (the input's resolution)."""
        x = features[-1]
        for step, i in enumerate(range(4, -1, -1)):
            x = F.interpolate(self.decoder[2 * step](x), scale_factor=2, mode="nearest")
            if i > 0:
                x = torch.cat([x, features[i - 1]], 1)
            x = self.decoder[2 * step + 1](x)
        return torch.sigmoid(self.decoder[10](x))


class Monodepth2(nn.Module):
    """Encoder (ResNet under `encoder.`) and decoder; forward takes RGB in [0, 1], returns the sigmoid disparity."""

    def __init__(self, depth: int = 18) -> None:
        super().__init__()
        self.encoder = ResNet(depth)
        self.depth_decoder = DepthDecoder(self.encoder.channels)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.depth_decoder(self.encoder.features((rgb - 0.45) / 0.225))


def scaled_disparity(disp: np.ndarray) -> np.ndarray:
    """The official disp_to_depth's scaled disparity (1/MAX_DEPTH … 1/MIN_DEPTH) of a sigmoid output."""
    low, high = 1.0 / MAX_DEPTH, 1.0 / MIN_DEPTH
    return (low + (high - low) * disp).astype(np.float32)


def _read(folder: Path, trust_pickle: bool) -> tuple[dict, dict, dict[str, Any]]:
    """(encoder tensors, decoder tensors, encoder options) of an official model folder."""
    files = {name: folder / f"{name}.pth" for name in ("encoder", "depth")}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise TeacherConfigError(f"monodepth2: {folder} needs encoder.pth and depth.pth (missing {missing[0]})")
    encoder = load_torch_file(files["encoder"], trust_pickle)
    decoder = load_torch_file(files["depth"], trust_pickle)
    if not isinstance(encoder, dict) or not isinstance(decoder, dict):
        raise TeacherConfigError(f"monodepth2: {folder} does not hold the official dictionaries")
    options = {key: encoder.pop(key) for key in OPTIONS if key in encoder}
    if "height" not in options or "width" not in options:
        raise TeacherConfigError(f"monodepth2: {files['encoder']} lacks the training height and width")
    return encoder, decoder, options


def _depth_of(encoder: dict) -> int:
    """18 or 50, read off the first stage's shapes (a Bottleneck has conv3)."""
    return 50 if any(key.startswith("encoder.layer1.0.conv3") for key in encoder) else 18


class Monodepth2Teacher(Teacher):
    """Monodepth2's depth for the left view: metric (×5.4) for stereo-trained checkpoints, else relative inverse
    depth. `trust_pickle=True` allows a full unpickle of files `weights_only` loading refuses."""

    name = "monodepth2"

    def __init__(self, path: str, threads: int | None = None, trust_pickle: bool = False) -> None:
        if threads is not None and threads < 1:
            raise TeacherConfigError(f"monodepth2: threads must be at least 1, got {threads}")
        self.path, self.threads, self.trust_pickle = str(path), threads, bool(trust_pickle)
        folder = Path(self.path)
        encoder, decoder, options = _read(folder, self.trust_pickle)
        self.height, self.width = int(options["height"]), int(options["width"])
        self.use_stereo = bool(options.get("use_stereo", False))
        self.kind = METRIC if self.use_stereo else RELATIVE
        self.model = Monodepth2(_depth_of(encoder))
        load_weights_strict(self.model.encoder, {k.removeprefix("encoder."): v for k, v in encoder.items()},
                            str(folder / "encoder.pth"), shown_prefix="encoder.", target="monodepth2 encoder")
        load_weights_strict(self.model.depth_decoder, decoder, str(folder / "depth.pth"),
                            target="monodepth2 depth decoder")
        self.model.eval()
        self.checkpoint_sha256 = checkpoint_sha256(folder / "encoder.pth") + checkpoint_sha256(folder / "depth.pth")

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("monodepth2", **params)` rebuilds this teacher."""
        return {"path": self.path, "threads": self.threads, "trust_pickle": self.trust_pickle}

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, input size, the checkpoints' sha256 and torch version."""
        identity = super().identity()
        identity["params"] = {"height": self.height, "width": self.width, "use_stereo": self.use_stereo}
        return {**identity, "family": "monodepth2", "checkpoint_sha256": self.checkpoint_sha256,
                "torch": torch.__version__}

    def infer(self, image: np.ndarray) -> np.ndarray:
        """The scaled disparity (network resolution) of a uint8 RGB image, resized as the official test_simple.py
        does (Pillow, Lanczos)."""
        from PIL import Image

        pixels = np.asarray(Image.fromarray(image).resize((self.width, self.height), Image.LANCZOS))
        batch = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], np.float32) / 255.0)
        with torch_threads(self.threads), torch.inference_mode():
            disp = self.model(batch)[0, 0].numpy()
        return scaled_disparity(disp)

    def predict(self, sample: StereoSample) -> Prediction:
        """Depth in metres (stereo-trained) or relative inverse depth of the left view, at its resolution."""
        height, width = sample.left.shape[:2]
        value = self.infer(sample.left)
        if self.kind == METRIC:
            value = STEREO_SCALE / value
        return dense_prediction(value, self.kind, height, width)
