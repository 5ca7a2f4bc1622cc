"""Monodepth2 checkpoints as a teacher: the official key names and shapes (../shared/reference) load strictly into
the project's ResNet-18/50 encoder and depth decoder, and the output follows the official conventions
(disp_to_depth with 0.1/100, ×5.4 metres for stereo-trained models, relative inverse depth otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from edgedepth.data import load_motorcycle
from edgedepth.errors import EdgeDepthError
from edgedepth.teachers import create_teacher
from edgedepth.teachers.monodepth2 import MAX_DEPTH, MIN_DEPTH, STEREO_SCALE, Monodepth2, scaled_disparity
from runtime.bundle import METRIC, RELATIVE
from tests.helpers import official_monodepth2_folder

REFERENCE = next((p for p in (Path(__file__).resolve().parents[3] / "shared" / "reference",
                              Path("/work/shared/reference")) if p.is_dir()), None)


def _layout(name: str) -> dict[str, list[int]]:
    if REFERENCE is None or not (REFERENCE / name).is_file():
        pytest.skip(f"reference layout {name} is not available here (../shared/reference)")
    return {key: shape for key, shape, _ in json.loads((REFERENCE / name).read_text())}


@pytest.mark.parametrize("depth", [18, 50])
def test_the_official_layout_is_the_models_own(depth):
    model = Monodepth2(depth)
    encoder = {f"encoder.{k}": list(v.shape) for k, v in model.encoder.state_dict().items()}
    decoder = {k: list(v.shape) for k, v in model.depth_decoder.state_dict().items()}
    assert encoder == _layout(f"monodepth2_r{depth}.encoder.keys.json")
    assert decoder == _layout(f"monodepth2_r{depth}.depth.keys.json")
    if depth == 18:  # the official ResNet-18 files: the encoder with torchvision's unused fc, the decoder
        assert sum(p.numel() for p in model.encoder.parameters()) == 11_689_512
        assert sum(p.numel() for p in model.depth_decoder.parameters()) == 3_152_724


def _official_folder(root: Path, depth: int = 18, use_stereo: bool = False, seed: int = 0) -> Path:
    """encoder.pth and depth.pth as the official trainer saves them, from a random-init model."""
    return official_monodepth2_folder(root, depth, use_stereo, seed)


def test_predictions_follow_the_official_conventions(tmp_path):
    sample = load_motorcycle(max_width=120)
    mono = create_teacher(f"monodepth2:{_official_folder(tmp_path / 'mono')}")
    stereo = create_teacher(f"monodepth2:{_official_folder(tmp_path / 'stereo', use_stereo=True)}")
    assert (mono.kind, stereo.kind) == (RELATIVE, METRIC)
    relative, metric = mono.predict(sample), stereo.predict(sample)
    assert relative.value.shape == sample.left.shape[:2] and relative.valid.all()
    network = mono.infer(sample.left)
    assert network.shape == (64, 96)
    assert 1 / MAX_DEPTH <= network.min() and network.max() <= 1 / MIN_DEPTH  # the scaled disparity's range
    # Same weights, stereo-trained flag: metres = 5.4 / scaled disparity, at the network's resolution.
    np.testing.assert_allclose(STEREO_SCALE / stereo.infer(sample.left), STEREO_SCALE / network, rtol=1e-6)
    assert metric.valid.all() and metric.value.min() >= STEREO_SCALE * MIN_DEPTH - 1e-4


def test_decoder_computes_what_the_official_one_does():
    """The official forward, written out with functional ops from the state dict (reflection pad, ELU, nearest
    ×2 upsampling, skips, sigmoid of the scale-0 head), against the module."""
    torch.manual_seed(1)
    model = Monodepth2(18).eval()
    state = model.depth_decoder.state_dict()
    rgb = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        features = model.encoder.features((rgb - 0.45) / 0.225)

        def conv(x, index, elu=True):
            prefix = f"decoder.{index}.conv.conv" if elu else f"decoder.{index}.conv"
            y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), state[f"{prefix}.weight"], state[f"{prefix}.bias"])
            return F.elu(y) if elu else y

        x = features[4]
        for step, i in enumerate(range(4, -1, -1)):
            x = F.interpolate(conv(x, 2 * step), scale_factor=2, mode="nearest")
            x = torch.cat([x, features[i - 1]], 1) if i > 0 else x
            x = conv(x, 2 * step + 1)
        expected = torch.sigmoid(conv(x, 10, elu=False))
        np.testing.assert_allclose(model(rgb).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert np.allclose(scaled_disparity(np.array([0.0, 1.0])), [1 / MAX_DEPTH, 1 / MIN_DEPTH])


def test_wrong_or_incomplete_checkpoints_are_one_line(tmp_path):
    folder = _official_folder(tmp_path / "m")
    (folder / "depth.pth").unlink()
    with pytest.raises(EdgeDepthError, match="needs encoder.pth and depth.pth"):
        create_teacher(f"monodepth2:{folder}")
    torch.manual_seed(0)
    wrong = Monodepth2(50)  # a ResNet-50 decoder next to a ResNet-18 encoder
    torch.save(wrong.depth_decoder.state_dict(), folder / "depth.pth")
    with pytest.raises(EdgeDepthError, match="wrong shape") as info:
        create_teacher(f"monodepth2:{folder}")
    assert "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("use_stereo, kind", [(False, RELATIVE), (True, METRIC)])
def test_distill_from_a_monodepth2_folder(tmp_path, use_stereo, kind):
    from edgedepth.checkpoint import load_student
    from edgedepth.cli import main
    from tests.helpers import write_photos

    folder = _official_folder(tmp_path / "md2", use_stereo=use_stereo)
    photos = write_photos(tmp_path / "photos", count=4)
    out = tmp_path / "student.safetensors"
    assert main(["distill", "--out", str(out), "--teacher", f"monodepth2:{folder}", "--images", str(photos),
                 "--steps", "2", "--size", "64x96", "--batch-size", "2", "--no-cache", "--threads", "1"]) == 0
    _, info = load_student(out)
    assert info.teacher["name"] == "monodepth2" and info.output_kind == kind
    assert info.training["data"]["dataset"] == "images" and len(info.training["data"]["holdout"]) == 1
