"""Hugging Face depth teachers: tiny random-init models of each family, loaded offline from folders and a fake cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.teachers import HFDepthTeacher, TeacherConfigError, create_teacher, list_teachers
from edgedepth.teachers.hf import target_size
from tests.helpers import tiny_depth_anything, tiny_models

pytest.importorskip("transformers")
pytestmark = pytest.mark.usefixtures("offline")

HEIGHT, WIDTH = 30, 45
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Saved tiny models (safetensors), plus a BERT folder, a pickle-only folder and an empty one."""
    from transformers import BertConfig

    root = tmp_path_factory.mktemp("hf")
    out = {}
    for name, model in tiny_models().items():
        model.save_pretrained(root / name)
        out[name] = root / name
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        root / "bert")
    out["bert"] = root / "bert"
    pickled = tiny_depth_anything(0, 8, [5, 6, 7, 8])
    pickled.config.save_pretrained(root / "pickle")
    torch.save(pickled.state_dict(), root / "pickle" / "pytorch_model.bin")
    out["pickle"] = root / "pickle"
    (root / "no_config").mkdir()
    (root / "no_config" / "model.safetensors").write_bytes(b"")
    out["no_config"] = root / "no_config"
    return out


def photo(seed: int = 0, value: int | None = None) -> StereoSample:
    """A single photo (no right view), random or one grey level."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) if value is None else \
        np.full((HEIGHT, WIDTH, 3), value, np.uint8)
    return StereoSample(name="photo", left=image, right=None)


def network_input(teacher: HFDepthTeacher, sample: StereoSample) -> torch.Tensor:
    """The pixel_values the model receives for `sample`."""
    seen = []
    hook = teacher.model.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["pixel_values"].clone()),
                                                   with_kwargs=True)
    try:
        teacher.predict(sample)
    finally:
        hook.remove()
    return seen[0]


CASES = [  # folder, size, family, kind, network input for a 30×45 photo
    ("da_v1", 56, "depth_anything", "relative_inverse_depth", (56, 84)),
    ("da_v2", 56, "depth_anything", "relative_inverse_depth", (56, 84)),
    ("da_metric", 28, "depth_anything", "metric_depth", (28, 42)),
    ("dpt", 64, "dpt", "relative_inverse_depth", (64, 64)),
    ("dpt_beit", 64, "dpt", "relative_inverse_depth", (32, 64)),
    ("dpt_hybrid", None, "dpt", "relative_inverse_depth", (64, 64)),
    ("zoedepth", 64, "zoedepth", "metric_depth", (32, 64)),
]


@pytest.mark.parametrize(("name", "size", "family", "kind", "input_hw"), CASES, ids=[c[0] for c in CASES])
def test_each_family_predicts_at_sample_resolution(folders, name, size, family, kind, input_hw):
    teacher = create_teacher(f"hf:{folders[name]}", size=size, threads=1)
    assert isinstance(teacher, HFDepthTeacher)
    assert teacher.kind == kind
    assert tuple(network_input(teacher, photo()).shape) == (1, 3, *input_hw)
    prediction = teacher.predict(photo())
    assert prediction.kind == kind
    assert prediction.value.shape == (HEIGHT, WIDTH) and prediction.value.dtype == np.float32
    assert np.isfinite(prediction.value).all()
    if kind == "metric_depth":
        assert prediction.valid.any() and (prediction.value[prediction.valid] > 0).all()
    else:
        assert prediction.valid.all()
    assert teacher.identity()["family"] == family


def test_metric_depth_anything_scales_by_max_depth(folders):
    value = create_teacher(f"hf:{folders['da_metric']}", size=28).predict(photo()).value
    assert 0 < value.min() and value.max() <= 20.0 and value.max() > 1.0


def test_normalisation_per_family(folders):
    """A white photo becomes (1 − mean) / std: ImageNet statistics for Depth Anything, 0.5/0.5 for DPT."""
    white = photo(value=255)
    da = network_input(create_teacher(f"hf:{folders['da_v1']}", size=28), white)
    expected = (1 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(da[0].mean(dim=(1, 2)).numpy(), expected, rtol=1e-4)
    dpt = network_input(create_teacher(f"hf:{folders['dpt']}", size=64), white)
    np.testing.assert_allclose(dpt.numpy(), 1.0, atol=1e-4)


def test_preprocessor_config_overrides_size_mean_std(folders, tmp_path):
    folder = tmp_path / "da_with_processor"
    shutil.copytree(folders["da_v1"], folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "size": {"height": 42, "width": 42}, "image_mean": [0, 0, 0], "image_std": [1, 1, 1],
        "ensure_multiple_of": 14, "keep_aspect_ratio": True}))
    teacher = create_teacher(f"hf:{folder}")
    pixels = network_input(teacher, photo(value=255))
    assert tuple(pixels.shape[-2:]) == (42, 56)
    np.testing.assert_allclose(pixels.numpy(), 1.0, atol=1e-4)
    assert tuple(network_input(create_teacher(f"hf:{folder}", size=28), photo()).shape[-2:]) == (28, 42)


def gradient_photo() -> StereoSample:
    """A photo whose red channel rises linearly down and across: 2·row + 4·column."""
    rows, cols = np.mgrid[:HEIGHT, :WIDTH]
    image = np.repeat((2 * rows + 4 * cols)[..., None], 3, axis=2).astype(np.uint8)
    return StereoSample(name="gradient", left=image, right=None)


class Echo(torch.nn.Module):
    """Stands in for the network: its "depth" is the input's red channel, de-normalised, plus one."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(predicted_depth=pixel_values[:, 0] * self.std + self.mean + 1)


@pytest.mark.parametrize(("name", "size"), [("da_v1", 28), ("dpt", 64), ("dpt_beit", 64), ("zoedepth", 64)])
def test_prediction_maps_back_onto_the_photo(folders, name, size):
    """Resize, padding and crop line up: an echoing network returns the photo itself (away from the border)."""
    teacher = create_teacher(f"hf:{folders[name]}", size=size)
    teacher.model = Echo(teacher.preprocess.mean[0], teacher.preprocess.std[0])
    sample = gradient_photo()
    expected = sample.left[..., 0] / 255.0 + 1
    value = teacher.predict(sample).value
    np.testing.assert_allclose(value[4:-4, 4:-4], expected[4:-4, 4:-4], atol=0.02)


def test_zoedepth_reflect_pads_before_resizing(folders):
    """ZoeDepth's input starts int(√(30/2)·3) = 11 rows and int(√(45/2)·3) = 14 columns in: its corner is the
    photo's pixel (11, 14), reflected."""
    pixels = network_input(create_teacher(f"hf:{folders['zoedepth']}", size=64), gradient_photo())
    assert pixels[0, 0, 0, 0].item() == pytest.approx((2 * 11 + 4 * 14) / 255 * 2 - 1, abs=1e-4)


def test_target_size_rules():
    assert target_size(480, 640, 518, 518, 14, "lower_bound") == (518, 686)
    assert target_size(100, 200, 518, 518, 14, "lower_bound") == (518, 1036)
    assert target_size(480, 640, 384, 512, 32, "minimal") == (384, 512)
    assert target_size(100, 200, 384, 384, 32, "minimal") == (192, 384)
    assert target_size(480, 640, 384, 384, 32, "stretch") == (384, 384)


def test_identity_is_stable_keyed_by_weights_and_rebuildable(folders):
    first = create_teacher(f"hf:{folders['da_v1']}", size=28, threads=1)
    again = create_teacher(f"hf:{folders['da_v1']}", size=28, threads=2)
    other = create_teacher(f"hf:{folders['da_v2']}", size=28)
    identity = first.identity()
    assert json.loads(json.dumps(identity)) == identity == again.identity()
    weights = (folders["da_v1"] / "model.safetensors").read_bytes()
    assert identity["weights_sha256"] == hashlib.sha256(weights).hexdigest()
    assert other.identity()["weights_sha256"] != identity["weights_sha256"]
    assert identity["family"] == "depth_anything" and identity["model_type"] == "depth_anything"
    assert "threads" not in identity["params"] and identity["transformers"]
    assert create_teacher("hf", **first.params()).identity() == identity
    assert create_teacher(f"hf:{folders['da_v1']}", size=56).identity() != identity


def test_repo_id_resolves_from_local_cache_offline(folders, offline):
    from huggingface_hub import scan_cache_dir

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = offline / "models--tiny-org--tiny-depth"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for file in sorted(folders["da_v2"].iterdir()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    cached = {r.repo_id: r for r in scan_cache_dir(offline).repos}
    assert {f.file_name for f in cached["tiny-org/tiny-depth"].refs["main"].files} >= {"config.json",
                                                                                        "model.safetensors"}

    teacher = create_teacher("hf:tiny-org/tiny-depth", size=28)
    assert teacher.folder == snapshot
    local = create_teacher(f"hf:{folders['da_v2']}", size=28)
    assert teacher.identity()["weights_sha256"] == local.identity()["weights_sha256"]
    np.testing.assert_array_equal(teacher.predict(photo()).value, local.predict(photo()).value)


def _error(spec: str, **kwargs) -> str:
    with pytest.raises(EdgeDepthError) as caught:
        create_teacher(spec, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message
    return message


def test_errors_are_one_line(folders, tmp_path):
    missing = tmp_path / "nowhere"
    assert str(missing) in _error(f"hf:{missing}") and "no such folder" in _error(f"hf:{missing}")
    assert "local Hugging Face cache" in _error("hf:tiny-org/absent")
    assert "no config.json" in _error(f"hf:{folders['no_config']}")
    bert = _error(f"hf:{folders['bert']}")
    assert "'bert'" in bert and "depth_anything, dpt or zoedepth" in bert
    assert "is a file" in _error(f"hf:{folders['da_v1'] / 'config.json'}")
    assert "trust_pickle=True" in _error(f"hf:{folders['pickle']}")
    (tmp_path / "broken").mkdir()
    shutil.copyfile(folders["da_v1"] / "config.json", tmp_path / "broken" / "config.json")
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"not safetensors")
    assert "cannot load it as DepthAnythingForDepthEstimation" in _error(f"hf:{tmp_path / 'broken'}")


def test_bad_keywords_are_config_errors(folders):
    da = f"hf:{folders['da_v1']}"
    for kwargs in ({"size": 0}, {"size": [28]}, {"kind": "disparity"}, {"threads": 0}, {"resolution": 28}):
        with pytest.raises(TeacherConfigError):
            create_teacher(da, **kwargs)
    with pytest.raises(TeacherConfigError, match="DPT-Hybrid"):
        create_teacher(f"hf:{folders['dpt_hybrid']}", size=32)
    assert create_teacher(da, kind="metric_depth", size=28).predict(photo()).kind == "metric_depth"


def test_pickled_weights_load_only_with_trust_pickle(folders):
    teacher = create_teacher(f"hf:{folders['pickle']}", size=28, trust_pickle=True)
    digest = hashlib.sha256((folders["pickle"] / "pytorch_model.bin").read_bytes()).hexdigest()
    assert teacher.identity()["weights_sha256"] == digest and teacher.params()["trust_pickle"] is True
    reference = create_teacher(f"hf:{folders['da_v1']}", size=28)
    np.testing.assert_array_equal(teacher.predict(photo()).value, reference.predict(photo()).value)


def test_missing_transformers_is_an_install_hint(folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    assert 'pip install "edgedepth[hf]"' in _error(f"hf:{folders['da_v1']}")


def test_registry_import_stays_light():
    assert "hf:PATH" in list_teachers()
    code = "import sys, edgedepth.teachers; sys.exit('transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0
