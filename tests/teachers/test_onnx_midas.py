"""Mono teachers: the official MiDaS v2.1 small checkpoint, and any ONNX depth model through onnxruntime."""

from __future__ import annotations

import argparse
import warnings

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from edgedepth.checkpoint import init_weights
from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.models import create_model
from edgedepth.teachers import MidasV21SmallTeacher, ONNXDepthTeacher, create_teacher, list_teachers
from edgedepth.teachers.base import dense_prediction
from edgedepth.teachers.midas import network_size
from edgedepth.threads import torch_threads
from runtime.preprocess import resize_bilinear
from tests.helpers import official_midas_checkpoint

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Direct torch runs at one thread: the machine's cores are shared, and oversubscribed threads stall."""
    with torch_threads(1):
        yield


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth uint8 RGB image with some texture (bicubic and bilinear resizes of it differ visibly)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def single(image: np.ndarray) -> StereoSample:
    return StereoSample(name="photo.png", left=image, right=None)


def assert_one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


# ---- MiDaS v2.1 small ----

@pytest.fixture(scope="module")
def midas_ckpt(tmp_path_factory):
    """A seeded random-init checkpoint in the official layout, saved as a plain state_dict like the release."""
    return official_midas_checkpoint(tmp_path_factory.mktemp("midas") / "midas_v21_small_256.pt")


@pytest.fixture(scope="module")
def midas_teacher(midas_ckpt):
    return create_teacher("midas_v21_small:" + str(midas_ckpt[0]), threads=1)


def test_midas_is_registered_with_a_checkpoint_location():
    assert "midas_v21_small:CHECKPOINT" in list_teachers()
    assert "onnx:PATH" in list_teachers()


@pytest.mark.parametrize(("hw", "size", "expected"), [
    ((480, 640), 256, (192, 256)),   # long side to 256, 192 exactly
    ((120, 200), 256, (160, 256)),   # 153.6 rounds up to 160
    ((1000, 1000), 256, (256, 256)),
    ((100, 700), 256, (32, 256)),    # 36.6 rounds to 32
    ((300, 250), 256, (256, 224)),   # 213.3 rounds to 224
    ((250, 300), 256, (224, 256)),
    ((200, 6000), 256, (32, 256)),   # 8.5 rounds to 0: kept at one multiple
    ((480, 640), 250, (192, 224)),   # 250 rounds to 256, above the bound: floored to 224
    ((480, 640), 384, (288, 384)),
])
def test_network_size_is_the_official_upper_bound_resize(hw, size, expected):
    assert network_size(*hw, size=size) == expected


def test_midas_prediction_equals_the_model_on_the_official_transform(midas_teacher, midas_ckpt):
    """The teacher's output is the network on the official small transform, computed here independently."""
    image = photo(120, 200, seed=1)
    prediction = midas_teacher.predict(single(image))
    assert prediction.kind == "relative_inverse_depth"
    assert prediction.value.shape == prediction.valid.shape == (120, 200)
    assert prediction.value.dtype == np.float32 and np.isfinite(prediction.value).all()
    assert prediction.valid.all()

    pixels = cv2.resize(image / 255.0, (256, 160), interpolation=cv2.INTER_CUBIC)
    x = torch.from_numpy(((pixels - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32))
    model = create_model("midas_small").eval()
    model.load_state_dict(midas_ckpt[1], strict=True)
    with torch.no_grad():
        direct = model(x)[0].numpy()
    assert direct.shape == (160, 256) and (direct > 0).mean() > 0.2  # a non-trivial map
    expected = dense_prediction(direct, "relative_inverse_depth", 120, 200).value
    scale = float(np.abs(expected).max())
    assert float(np.abs(prediction.value - expected).max()) <= 1e-4 * scale

    bilinear = cv2.resize(image / 255.0, (256, 160), interpolation=cv2.INTER_LINEAR)
    y = torch.from_numpy(((bilinear - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32))
    with torch.no_grad():
        other = dense_prediction(model(y)[0].numpy(), "relative_inverse_depth", 120, 200).value
    assert float(np.abs(prediction.value - other).max()) > 1e-3 * scale  # the pin would catch a bilinear resize


def test_midas_identity_and_params(midas_teacher, midas_ckpt):
    identity = midas_teacher.identity()
    assert identity["family"] == "midas" and identity["name"] == "midas_v21_small"
    assert identity["kind"] == "relative_inverse_depth"
    assert len(identity["checkpoint_sha256"]) == 64 and identity["torch"] == torch.__version__
    assert "threads" not in identity["params"] and identity["params"]["size"] == 256
    assert midas_teacher.params()["threads"] == 1 and midas_teacher.params()["checkpoint"] == str(midas_ckpt[0])


def test_midas_wrong_architecture_fails_in_one_line_naming_file_and_key(tmp_path):
    path = tmp_path / "student_lite0.pt"
    torch.save(create_model("midas_small_lite0").state_dict(), path)
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("midas_v21_small:" + str(path))
    message = assert_one_line(exc)
    assert "student_lite0.pt" in message and "midas_small" in message
    assert "first: pretrained." in message


def test_midas_refuses_pickled_objects_unless_trusted(tmp_path, midas_ckpt):
    path = tmp_path / "training_state.pt"
    torch.save({"state_dict": midas_ckpt[1], "args": argparse.Namespace(lr=1e-4)}, path)
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("midas_v21_small:" + str(path))
    message = assert_one_line(exc)
    assert "training_state.pt" in message and "--trust-pickle" in message
    teacher = MidasV21SmallTeacher(str(path), trust_pickle=True)
    assert torch.equal(teacher.model.state_dict()["scratch.output_conv.4.bias"], torch.tensor([0.5]))


def test_midas_missing_checkpoint_and_bad_size_fail_in_one_line(tmp_path):
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("midas_v21_small:" + str(tmp_path / "absent.pt"))
    assert "absent.pt" in assert_one_line(exc)
    with pytest.raises(EdgeDepthError) as exc:
        MidasV21SmallTeacher(str(tmp_path / "absent.pt"), size=16)
    assert "size" in assert_one_line(exc)


def test_student_init_from_official_checkpoint(midas_ckpt):
    model = create_model("midas_small")
    init_weights(model, midas_ckpt[0])
    for key, value in midas_ckpt[1].items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(EdgeDepthError) as exc:
        init_weights(create_model("midas_small_lite0"), midas_ckpt[0])
    message = assert_one_line(exc)
    assert "midas_v21_small_256.pt does not fit midas_small_lite0" in message and "wrong shape" in message


# ---- ONNX ----

class TinyDepth(nn.Module):
    """3 → 1 channel conv net; NHWC in and N×H×W×1 out when `nhwc`."""

    def __init__(self, seed: int = 0, nhwc: bool = False) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1),
                                 nn.Softplus())
        self.nhwc = nhwc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            return self.net(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return self.net(x)


class Classifier(nn.Module):
    """Not a depth model: one vector per image."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3)))


def export(net: nn.Module, path, shape=(1, 3, 64, 96), dynamic: bool = False):
    axes = {"image": {2: "height", 3: "width"}, "depth": {2: "height", 3: "width"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), torch.zeros(shape), str(path), input_names=["image"], output_names=["depth"],
                          dynamic_axes=axes, dynamo=False)
    return str(path)


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return {
        "nchw": export(TinyDepth(0), out / "tiny.onnx"),
        "other": export(TinyDepth(1), out / "tiny_other.onnx"),
        "nhwc": export(TinyDepth(0, nhwc=True), out / "tiny_nhwc.onnx", shape=(1, 64, 96, 3)),
        "dynamic": export(TinyDepth(0), out / "tiny_dynamic.onnx", dynamic=True),
        "classifier": export(Classifier(), out / "classifier.onnx"),
    }


def reference(net: nn.Module, image: np.ndarray, height: int, width: int, kind: str) -> np.ndarray:
    """The torch net on RGB/255, ImageNet-normalised, bilinear-resized input; its map back at image size."""
    pixels = resize_bilinear(image, height, width) / np.float32(255.0)
    x = torch.from_numpy(((pixels - MEAN) / STD).astype(np.float32).transpose(2, 0, 1)[None])
    with torch.no_grad():
        out = net.eval()(x)[0, 0].numpy()
    return dense_prediction(out, kind, *image.shape[:2]).value


def test_onnx_prediction_equals_the_torch_net(onnx_files):
    image = photo(80, 120, seed=2)
    teacher = create_teacher("onnx:" + onnx_files["nchw"], kind="relative_inverse_depth", threads=1)
    assert teacher.input_size == (64, 96)
    prediction = teacher.predict(single(image))
    assert prediction.kind == "relative_inverse_depth" and prediction.value.shape == (80, 120)
    expected = reference(TinyDepth(0), image, 64, 96, "relative_inverse_depth")
    assert float(np.abs(expected).max()) > 0
    assert float(np.abs(prediction.value - expected).max()) <= 1e-4 * float(np.abs(expected).max())
    other = reference(TinyDepth(1), image, 64, 96, "relative_inverse_depth")
    assert float(np.abs(prediction.value - other).max()) > 1e-2


def test_onnx_nhwc_and_dynamic_with_size(onnx_files):
    image = photo(70, 100, seed=3)
    expected = reference(TinyDepth(0), image, 64, 96, "metric_depth")
    nhwc = create_teacher("onnx:" + onnx_files["nhwc"], kind="metric_depth", layout="NHWC")
    assert nhwc.input_size == (64, 96)
    assert float(np.abs(nhwc.predict(single(image)).value - expected).max()) <= 1e-4 * float(expected.max())
    dynamic = create_teacher("onnx:" + onnx_files["dynamic"], kind="metric_depth", size="64x96")
    assert dynamic.input_size == (64, 96)
    prediction = dynamic.predict(single(image))
    assert prediction.kind == "metric_depth" and prediction.valid.all()  # softplus: depth > 0 everywhere
    assert float(np.abs(prediction.value - expected).max()) <= 1e-4 * float(expected.max())
    listed = create_teacher("onnx:" + onnx_files["dynamic"], kind="metric_depth", size=[32, 64])
    assert listed.input_size == (32, 64)
    assert not np.allclose(listed.predict(single(image)).value, prediction.value, atol=1e-3)


def test_onnx_keep_aspect_letterboxes_and_crops(onnx_files):
    image = photo(100, 100, seed=4)
    teacher = create_teacher("onnx:" + onnx_files["nchw"], kind="relative_inverse_depth", keep_aspect=True)
    raw = teacher.infer(image)
    assert raw.shape == (64, 64)  # the 16-column pads on both sides are cropped off
    pixels = resize_bilinear(image, 64, 64) / np.float32(255.0)
    padded = np.pad(((pixels - MEAN) / STD).astype(np.float32), [(0, 0), (16, 16), (0, 0)], mode="edge")
    with torch.no_grad():
        full = TinyDepth(0).eval()(torch.from_numpy(padded.transpose(2, 0, 1)[None]))[0, 0].numpy()
    np.testing.assert_allclose(raw, full[:, 16:80], rtol=1e-4, atol=1e-5)
    assert teacher.predict(single(image)).value.shape == (100, 100)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({}, "kind="),
    ({"kind": "disparity"}, "kind must be one of relative_inverse_depth, metric_depth"),
    ({"kind": "metric_depth", "layout": "NCWH"}, "layout"),
    ({"kind": "metric_depth", "size": "64by96"}, "size must be"),
    ({"kind": "metric_depth", "size": "32x32"}, "takes 64x96 images"),
    ({"kind": "metric_depth", "output": "disparity"}, "no output 'disparity'; outputs: depth"),
    ({"kind": "metric_depth", "layout": "NHWC"}, "layout=NCHW?"),
])
def test_onnx_configuration_errors_are_one_line(onnx_files, kwargs, needle):
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("onnx:" + onnx_files["nchw"], **kwargs)
    assert needle in assert_one_line(exc)


def test_onnx_dynamic_input_without_size_fails_in_one_line(onnx_files):
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("onnx:" + onnx_files["dynamic"], kind="relative_inverse_depth")
    message = assert_one_line(exc)
    assert "dynamic size" in message and "tiny_dynamic.onnx" in message and "size='HxW'" in message


def test_onnx_missing_or_broken_file_and_non_map_output(tmp_path, onnx_files):
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("onnx:" + str(tmp_path / "absent.onnx"), kind="metric_depth")
    assert "not found" in assert_one_line(exc)
    broken = tmp_path / "weights.onnx"
    broken.write_bytes(b"PK\x03\x04 this is a zip, not a protobuf" * 10)
    with pytest.raises(EdgeDepthError) as exc:
        create_teacher("onnx:" + str(broken), kind="metric_depth")
    assert "not a loadable ONNX model" in assert_one_line(exc)
    classifier = create_teacher("onnx:" + onnx_files["classifier"], kind="relative_inverse_depth")
    with pytest.raises(EdgeDepthError) as exc:
        classifier.predict(single(photo(64, 96)))
    assert "shape [1, 10], not one depth map" in assert_one_line(exc)


def test_onnx_identity_keys_on_the_file_and_declared_params(onnx_files):
    first = ONNXDepthTeacher(onnx_files["nchw"], kind="relative_inverse_depth", threads=2)
    again = ONNXDepthTeacher(onnx_files["nchw"], kind="relative_inverse_depth", threads=1)
    other = ONNXDepthTeacher(onnx_files["other"], kind="relative_inverse_depth")
    identity = first.identity()
    assert identity["family"] == "onnx" and identity["name"] == "onnx" and identity["kind"] == "relative_inverse_depth"
    assert identity["input_size"] == [64, 96] and "onnxruntime" in identity
    assert "threads" not in identity["params"] and identity["params"]["layout"] == "NCHW"
    assert identity == again.identity()
    assert identity["sha256"] != other.identity()["sha256"]
    metric = ONNXDepthTeacher(onnx_files["nchw"], kind="metric_depth").identity()
    assert metric["kind"] == "metric_depth" and metric != identity
    rebuilt = create_teacher("onnx", **first.params())
    assert rebuilt.identity() == identity
