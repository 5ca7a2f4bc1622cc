"""AANet / AANet+ teacher: the deformable convolution against the kernel's definition, the official checkpoint
layouts (../shared/reference), strict loading with one-line errors, the forward pass with the official padding,
and a one-step stereo distillation from an `aanet:FILE` teacher."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.teachers import TeacherConfigError, create_teacher
from edgedepth.teachers.aanet import AANET, AANET_PLUS, CONFIGS, AANet, AANetTeacher, official_state_dict
from edgedepth.teachers.aanet.cost import correlation_volume
from edgedepth.teachers.aanet.deform import DeformConv2d, modulated_deform_conv2d
from edgedepth.teachers.aanet.model import soft_argmin
from edgedepth.teachers.aanet.refinement import warp_right
from edgedepth.teachers.aanet.weights import load_official_state_dict
from tests.helpers import write_bad_checkpoint

REFERENCE = next((p for p in (Path(__file__).resolve().parents[3] / "shared" / "reference",
                              Path("/work/shared/reference")) if p.is_dir()), None)
# Learnable parameters, as the official model zoo lists them (3.93M, 8.44M).
PARAMETERS = {"aanet": 3_931_676, "aanet_plus": 8_442_850}
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: on a few shared cores, torch's thread pool costs more than it gives here."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def models() -> dict[str, AANet]:
    torch.manual_seed(0)
    return {"aanet": AANet(AANET).eval(), "aanet_plus": AANet(AANET_PLUS).eval()}


@pytest.fixture(scope="module")
def checkpoints(models, tmp_path_factory) -> dict[str, Path]:
    """Random-init checkpoints in the official file format: a dict with the weights under `state_dict`."""
    folder = tmp_path_factory.mktemp("aanet")
    paths = {}
    for name, model in models.items():
        paths[name] = folder / f"{name}-random.pth"
        torch.save({"epoch": 64, "num_iter": 1000, "epe": 0.87, "state_dict": official_state_dict(model)},
                   paths[name])
    return paths


def sample(height: int, width: int, shift: int = 4, seed: int = 0) -> StereoSample:
    """A random-texture pair whose right view is the left shifted by `shift` pixels."""
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    return StereoSample("pair", np.ascontiguousarray(left[:, shift:]), np.ascontiguousarray(left[:, :width]))


# ---- the deformable convolution ------------------------------------------------------------------------------


def _kernel_bilinear(image: np.ndarray, y: float, x: float) -> float:
    """The CUDA kernel's bilinear read: the four corners, each only when inside the image."""
    height, width = image.shape
    y0, x0 = math.floor(y), math.floor(x)
    y1, x1 = y0 + 1, x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    v1 = image[y0, x0] if y0 >= 0 and x0 >= 0 else 0.0
    v2 = image[y0, x1] if y0 >= 0 and x1 <= width - 1 else 0.0
    v3 = image[y1, x0] if y1 <= height - 1 and x0 >= 0 else 0.0
    v4 = image[y1, x1] if y1 <= height - 1 and x1 <= width - 1 else 0.0
    return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4


def _loop_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups):
    """Modulated deformable convolution written out per output pixel, channel and tap, in float64."""
    x, offset, mask, weight = (t.detach().double().numpy() for t in (x, offset, mask, weight))
    n, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    taps = kh * kw
    out_h, out_w = offset.shape[2:]
    per_group = channels // deformable_groups
    columns = np.zeros((n, channels, taps, out_h, out_w))
    for b in range(n):
        for c in range(channels):
            g = c // per_group
            for i in range(kh):
                for j in range(kw):
                    k = i * kw + j
                    for oy in range(out_h):
                        for ox in range(out_w):
                            y = oy * stride - padding + i * dilation + offset[b, g * 2 * taps + 2 * k, oy, ox]
                            xx = ox * stride - padding + j * dilation + offset[b, g * 2 * taps + 2 * k + 1, oy, ox]
                            value = 0.0
                            if -1 < y < height and -1 < xx < width:
                                value = _kernel_bilinear(x[b, c], y, xx)
                            columns[b, c, k, oy, ox] = value * mask[b, g * taps + k, oy, ox]
    out = np.zeros((n, out_channels, out_h, out_w))
    per_out = out_channels // groups
    for o in range(out_channels):
        g = o // per_out
        block = columns[:, g * group_channels:(g + 1) * group_channels]  # n, cg, taps, h, w
        out[:, o] = np.einsum("nckhw,ck->nhw", block, weight[o].reshape(group_channels, taps))
    if bias is not None:
        out += bias.detach().double().numpy()[None, :, None, None]
    return torch.from_numpy(out)


@pytest.mark.parametrize(("channels", "out_channels", "kernel", "stride", "padding", "dilation", "groups",
                          "deformable_groups", "size"), [
    (4, 3, 3, 1, 1, 1, 1, 1, (5, 6)),
    (4, 6, 3, 1, 2, 2, 1, 2, (6, 5)),  # AANet's layer: dilation 2, two deformable groups
    (6, 4, 3, 2, 2, 2, 2, 3, (7, 8)),  # strided, grouped
    (2, 2, 2, 1, 0, 1, 1, 1, (4, 4)),  # even kernel, no padding
])
def test_deformable_conv_matches_the_kernel_definition(channels, out_channels, kernel, stride, padding, dilation,
                                                       groups, deformable_groups, size):
    generator = torch.Generator().manual_seed(channels * 100 + kernel * 10 + stride)
    x = torch.randn(2, channels, *size, generator=generator)
    weight = torch.randn(out_channels, channels // groups, kernel, kernel, generator=generator)
    bias = torch.randn(out_channels, generator=generator)
    out_h = (size[0] + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    out_w = (size[1] + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    taps = kernel * kernel
    offset = torch.rand(2, 2 * deformable_groups * taps, out_h, out_w, generator=generator) * 7 - 3.5
    offset[0, :4] = torch.randint(-3, 4, (4, out_h, out_w), generator=generator).float()  # integers, borders
    mask = torch.rand(2, deformable_groups * taps, out_h, out_w, generator=generator) * 2
    ours = modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding, dilation, groups,
                                   deformable_groups)
    expected = _loop_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups)
    assert ours.shape == expected.shape
    assert torch.allclose(ours.double(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "deformable_groups"), [
    (1, 1, 1, 1, 1), (1, 2, 2, 1, 2), (2, 2, 2, 2, 4), (2, 0, 1, 4, 2)])
def test_zero_offsets_and_unit_masks_are_a_plain_convolution(stride, padding, dilation, groups, deformable_groups):
    torch.manual_seed(1)
    x, weight, bias = torch.randn(2, 8, 9, 11), torch.randn(12, 8 // groups, 3, 3), torch.randn(12)
    expected = F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    offset = torch.zeros(2, 2 * deformable_groups * 9, *expected.shape[2:])
    mask = torch.ones(2, deformable_groups * 9, *expected.shape[2:])
    ours = modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding, dilation, groups,
                                   deformable_groups)
    assert torch.allclose(ours, expected, atol=1e-4, rtol=1e-4)


def test_deform_layer_slices_offsets_then_masks_and_doubles_the_sigmoid():
    torch.manual_seed(2)
    layer = DeformConv2d(8, 6, deformable_groups=2)  # dilation 2, as AANet builds it
    assert layer.offset_conv.out_channels == 54 and layer.offset_conv.groups == 2
    x = torch.randn(1, 8, 7, 9)
    assert torch.allclose(layer(x), F.conv2d(x, layer.deform_conv.weight, padding=2, dilation=2), atol=1e-5)
    torch.nn.init.normal_(layer.offset_conv.weight, std=0.3)
    torch.nn.init.normal_(layer.offset_conv.bias, std=0.5)
    raw = layer.offset_conv(x)
    expected = _loop_deform_conv(x, raw[:, :36], raw[:, 36:].sigmoid() * 2, layer.deform_conv.weight, None, 1, 2,
                                 2, 1, 2)
    with torch.no_grad():
        assert torch.allclose(layer(x).double(), expected, atol=1e-4, rtol=1e-4)


# ---- layouts and strict loading ------------------------------------------------------------------------------


def _reference_layout(name: str) -> list[tuple[str, tuple[int, ...], str]]:
    if REFERENCE is None or not (REFERENCE / f"{name}.keys.json").is_file():
        pytest.skip(f"reference layout {name}.keys.json is not available here (../shared/reference)")
    entries = json.loads((REFERENCE / f"{name}.keys.json").read_text())
    return [(key, tuple(shape), dtype) for key, shape, dtype in entries]


@pytest.mark.parametrize("name", ["aanet", "aanet_plus"])
def test_state_dict_matches_the_official_layout_in_order(models, name):
    model = models[name]
    ours = [(key, tuple(value.shape), str(value.dtype)) for key, value in model.state_dict().items()]
    assert ours == _reference_layout(name)
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name]


def test_release_names_choose_the_architecture():
    assert {name for name, config in CONFIGS.items() if config == AANET} == {
        "aanet", "aanet_sceneflow", "aanet_kitti15", "aanet_kitti12"}
    assert {name for name, config in CONFIGS.items() if config == AANET_PLUS} == {
        "aanet+", "aanet+_sceneflow", "aanet+_kitti15", "aanet+_kitti12"}
    assert AANET.max_disp == AANET_PLUS.max_disp == 192 and (AANET.multiple, AANET_PLUS.multiple) == (48, 96)


@pytest.mark.parametrize("name", ["aanet", "aanet_plus"])
def test_official_checkpoints_load_strictly_with_or_without_the_prefix(models, checkpoints, tmp_path, name):
    teacher = create_teacher(f"aanet:{checkpoints[name]}", threads=1)  # architecture read off the keys
    assert teacher.config == ("aanet+" if name == "aanet_plus" else "aanet")
    loaded = teacher.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in models[name].state_dict().items())
    assert len(teacher.checkpoint_sha256) == 64
    bare = tmp_path / "bare.pth"
    torch.save({"state_dict": official_state_dict(models[name], prefix=False), "epoch": 1}, bare)
    config = "aanet+_kitti15" if name == "aanet_plus" else "aanet_kitti15"
    again = AANetTeacher(checkpoint=str(bare), config=config, threads=1)
    loaded = again.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in models[name].state_dict().items())


def _one_line_error(state: dict, model: AANet, match: str) -> str:
    with pytest.raises(EdgeDepthError, match=match) as err:
        load_official_state_dict(model, state, "ckpt.pth")
    assert "\n" not in str(err.value)
    return str(err.value)


def test_mismatching_checkpoints_give_one_line_errors(models):
    model = AANet(AANET)
    good = official_state_dict(models["aanet"])
    key = "module.refinement.1.final_conv.bias"
    missing = {k: v for k, v in good.items() if k != key}
    assert f"1 missing key, first: {key}" in _one_line_error(missing, model, "missing")
    extra = {**good, "module.refinement.2.final_conv.bias": torch.zeros(1)}
    assert "1 unexpected key, first: module.refinement.2.final_conv.bias" in _one_line_error(extra, model,
                                                                                            "unexpected")
    wrong = dict(good)
    wrong["module.aggregation.final_conv.0.weight"] = torch.zeros(48, 64, 1, 1)
    assert "(48, 64, 1, 1), expected (64, 64, 1, 1)" in _one_line_error(wrong, model, "wrong shape")
    _one_line_error(official_state_dict(models["aanet_plus"]), model, "missing keys.*unexpected keys")


def test_unreadable_checkpoints_give_one_line_errors(checkpoints, tmp_path):
    truncated = checkpoints["aanet"].read_bytes()[:100_000]
    cases = {"nope.pth": None, "truncated.pth": truncated, "list.pth": [torch.zeros(1)],
             "wrapped_list.pth": {"state_dict": [torch.zeros(1)], "epoch": 3}, "strings.pth": {"a.weight": "x"}}
    for name, content in cases.items():
        path = write_bad_checkpoint(tmp_path / name, content)
        with pytest.raises(EdgeDepthError) as err:
            AANetTeacher(checkpoint=str(path))
        assert "\n" not in str(err.value) and str(path) in str(err.value), name
    with pytest.raises(EdgeDepthError, match="does not fit AANet config aanet\\+_kitti12") as err:
        AANetTeacher(checkpoint=str(checkpoints["aanet"]), config="aanet+_kitti12")
    assert "\n" not in str(err.value)
    other = tmp_path / "other.pth"
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, other)
    with pytest.raises(EdgeDepthError, match="not an AANet or AANet\\+ checkpoint"):
        AANetTeacher(checkpoint=str(other))


def test_teacher_parameters_are_checked():
    with pytest.raises(TeacherConfigError, match="checkpoint=PATH"):
        AANetTeacher()
    with pytest.raises(TeacherConfigError, match="unknown AANet config"):
        AANetTeacher(random_init=True, config="aanet_middlebury")
    with pytest.raises(TeacherConfigError, match="multiple of 96"):
        AANetTeacher(random_init=True, config="aanet+", pad_to=48)
    with pytest.raises(TeacherConfigError, match="not both"):
        AANetTeacher(checkpoint="x.pth", random_init=True)


# ---- pieces of the forward pass ------------------------------------------------------------------------------


def test_correlation_soft_argmin_and_warp():
    torch.manual_seed(3)
    left, right = torch.randn(1, 5, 3, 10), torch.randn(1, 5, 3, 10)
    volume = correlation_volume(left, right, 4)
    assert volume.shape == (1, 4, 3, 10)
    assert torch.allclose(volume[0, 2, 1, 7], (left[0, :, 1, 7] * right[0, :, 1, 5]).mean())
    assert torch.all(volume[0, 3, :, :3] == 0)  # no match left of the right image

    cost = torch.full((1, 6, 2, 2), -1e4)
    cost[:, 4] = 0.0
    assert torch.allclose(soft_argmin(cost), torch.full((1, 2, 2), 4.0))

    image = torch.arange(2 * 4 * 7, dtype=torch.float32).view(1, 2, 4, 7)
    assert torch.allclose(warp_right(image, torch.zeros(1, 1, 4, 7)), image, atol=1e-4)  # pixel centres
    shifted = warp_right(image, torch.full((1, 1, 4, 7), 2.0))
    assert torch.allclose(shifted[..., 2:], image[..., :5])
    assert torch.allclose(shifted[..., :2], image[..., :1].expand(1, 2, 4, 2))  # border values outside
    half = warp_right(image, torch.full((1, 1, 4, 7), 0.5))
    assert torch.allclose(half[..., 1:], (image[..., 1:] + image[..., :-1]) / 2)


def test_pads_normalised_input_at_top_and_right_and_crops_back(monkeypatch):
    teacher = AANetTeacher(random_init=True, threads=1)
    height, width = 40, 90  # padded to 48×96: 8 rows on top, 6 columns on the right
    pair = sample(height, width)
    seen = {}

    def fake_forward(left, right):
        seen["left"], seen["right"] = left.clone(), right.clone()
        columns = torch.arange(left.shape[-1], dtype=torch.float32)
        rows = torch.arange(left.shape[-2], dtype=torch.float32)[:, None]
        return [None, 5.0 + 0.01 * columns + 100.0 * (rows < 8)[None]]  # the padded rows would show as +100

    monkeypatch.setattr(teacher.model, "forward", fake_forward)
    prediction = teacher.predict(pair)
    assert seen["left"].shape == seen["right"].shape == (1, 3, 48, 96)
    expected = (pair.left / 255.0 - MEAN) / STD
    assert np.allclose(seen["left"][0, :, 8:, :90].permute(1, 2, 0).numpy(), expected, atol=1e-5)
    assert torch.all(seen["left"][0, :, :8] == 0) and torch.all(seen["right"][0, :, :, 90:] == 0)
    x = np.arange(width)
    disparity = 5.0 + 0.01 * x
    inside = x - disparity >= -0.5
    assert np.array_equal(prediction.valid, np.broadcast_to(inside, (height, width)))
    assert np.allclose(prediction.value[:, inside], np.broadcast_to(disparity[inside], (height, inside.sum())))
    assert np.all(prediction.value[:, ~inside] == 0)


def test_aanet_predicts_a_finite_disparity_of_the_input_size():
    teacher = create_teacher("aanet", random_init=True, config="aanet_kitti15", threads=1)
    prediction = teacher.predict(sample(40, 90))  # not a multiple of 48
    assert prediction.kind == "disparity" and prediction.value.shape == prediction.valid.shape == (40, 90)
    assert prediction.value.dtype == np.float32 and np.isfinite(prediction.value).all()
    assert prediction.valid.any() and np.all(prediction.value[prediction.valid] > 0)
    identity = teacher.identity()
    assert identity["family"] == "aanet" and identity["params"]["config"] == "aanet_kitti15"
    assert "threads" not in identity["params"] and json.dumps(identity)
    assert create_teacher("aanet", **teacher.params()).identity() == identity


def test_aanet_plus_forward_gives_every_scale(models):
    model = models["aanet_plus"]
    torch.manual_seed(4)
    left, right = torch.randn(1, 3, 96, 96), torch.randn(1, 3, 96, 96)
    with torch.inference_mode():
        pyramid = model(left, right)
        assert [tuple(d.shape) for d in pyramid] == [(1, 32, 32), (1, 48, 48), (1, 96, 96)]
        assert all(torch.isfinite(d).all() for d in pyramid) and torch.all(pyramid[-1] >= 0)
        assert float(pyramid[0].max()) <= 63  # soft-argmin over 192 // 3 candidates at 1/3
        with pytest.raises(ValueError, match="multiple of 96"):
            model(left[..., :48], right[..., :48])


# ---- distillation from an aanet: teacher ---------------------------------------------------------------------


def test_distill_stereo_from_an_aanet_checkpoint(checkpoints, tmp_path):
    out = tmp_path / "student.safetensors"
    assert main(["distill", "--task", "stereo", "--teacher", f"aanet:{checkpoints['aanet']}", "--teacher-arg",
                 "config=aanet_kitti15", "--out", str(out), "--steps", "1", "--scenes", "1", "--size", "32x64",
                 "--batch-size", "1", "--threads", "1", "--no-cache"]) == 0
    _, info = load_student(out)
    assert info.task == "stereo" and info.teacher["name"] == "aanet"
    assert info.teacher["params"]["config"] == "aanet_kitti15" and len(info.teacher["checkpoint_sha256"]) == 64
