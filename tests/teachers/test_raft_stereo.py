"""RAFT-Stereo teacher: official checkpoint layouts, strict loading, correlation, upsampling, the adapter's output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.teachers import RAFTStereoTeacher, TeacherConfigError, create_teacher
from edgedepth.teachers.raft_stereo import CONFIGS, RAFTStereo, RAFTStereoConfig, official_state_dict
from edgedepth.teachers.raft_stereo.adapter import pad_amounts
from edgedepth.teachers.raft_stereo.corr import CorrPyramid1D, correlation_volume, lookup_row
from edgedepth.teachers.raft_stereo.model import convex_upsample
from edgedepth.teachers.raft_stereo.weights import alias_groups, load_official_state_dict
from tests.helpers import write_bad_checkpoint

REFERENCE = Path("/work/shared/reference")
# Learnable parameters (shared tensors counted once), as the official count_parameters reports them.
PARAMETERS = {"realtime": 9_865_568, "default": 11_116_176}


@pytest.fixture(scope="module")
def models() -> dict[str, RAFTStereo]:
    torch.manual_seed(0)
    return {name: RAFTStereo(CONFIGS[name]).eval() for name in ("realtime", "default")}


@pytest.fixture(scope="module")
def checkpoints(models, tmp_path_factory) -> dict[str, Path]:
    """Random-init checkpoints under the official names (both names of every aliased tensor)."""
    folder = tmp_path_factory.mktemp("raft_stereo")
    paths = {}
    for name, model in models.items():
        paths[name] = folder / f"raftstereo-{name}.pth"
        torch.save(official_state_dict(model), paths[name])
    return paths


def sample(height: int, width: int, shift: int = 4, seed: int = 0) -> StereoSample:
    """A random-texture pair whose right view is the left shifted by `shift` pixels."""
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    return StereoSample("pair", np.ascontiguousarray(left[:, shift:]), np.ascontiguousarray(left[:, :width]))


def reference_layout(name: str) -> list[tuple[str, tuple[int, ...], str]]:
    if not (REFERENCE / f"raftstereo_{name}.keys.json").is_file():
        pytest.skip(f"reference layout {REFERENCE}/raftstereo_{name}.keys.json is not available here")
    entries = json.loads((REFERENCE / f"raftstereo_{name}.keys.json").read_text())
    return [(key, tuple(shape), dtype) for key, shape, dtype in entries]


# ---- layouts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["realtime", "default"])
def test_state_dict_matches_official_layout_in_order(models, name):
    ours = [(key, tuple(value.shape), str(value.dtype)) for key, value in official_state_dict(models[name]).items()]
    assert ours == reference_layout(name)
    assert sum(p.numel() for p in models[name].parameters()) == PARAMETERS[name]


def test_aliases_match_official(models):
    path = REFERENCE / "raftstereo_realtime.aliases.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available here")
    expected = sorted(sorted(group) for group in json.loads(path.read_text()))
    assert [["module." + key for key in group] for group in alias_groups(models["realtime"])] == expected
    # the default configuration's context encoder has the same strided blocks, hence the same pairs
    assert alias_groups(models["default"]) == alias_groups(models["realtime"])


def test_configurations_follow_the_official_command_lines():
    realtime, default = CONFIGS["realtime"], CONFIGS["default"]
    assert (realtime.shared_backbone, realtime.n_downsample, realtime.n_gru_layers, realtime.slow_fast_gru,
            realtime.valid_iters, realtime.context_norm) == (True, 3, 2, True, 7, "batch")
    assert default == RAFTStereoConfig() and (default.n_downsample, default.n_gru_layers, default.valid_iters) == (
        2, 3, 32)
    assert CONFIGS["middlebury"] == CONFIGS["eth3d"] == CONFIGS["sceneflow"] == default
    assert CONFIGS["rvc"].context_norm == "instance"
    # instance norm has no affine parameters: the rvc checkpoint has no cnet norm tensors
    rvc_keys = RAFTStereo(CONFIGS["rvc"]).state_dict()
    assert not any(key.startswith("cnet.") and ".norm" in key for key in rvc_keys)


# ---- strict loading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["realtime", "default"])
def test_official_checkpoint_loads_strictly_and_predicts(models, checkpoints, name):
    teacher = create_teacher("raft_stereo", checkpoint=str(checkpoints[name]), config=name, iters=2)
    loaded = teacher.model.state_dict()
    for key, value in models[name].state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert teacher.checkpoint_sha256 and len(teacher.checkpoint_sha256) == 64

    for height, width in ((64, 96), (50, 70)):  # 50×70 divides by nothing: padded, then cropped back
        prediction = teacher.predict(sample(height, width))
        assert prediction.kind == "disparity"
        assert prediction.value.shape == prediction.valid.shape == (height, width)
        assert prediction.value.dtype == np.float32 and prediction.valid.dtype == bool
        assert np.isfinite(prediction.value).all()
        assert np.all(prediction.value[~prediction.valid] == 0) and np.all(prediction.value[prediction.valid] > 0)


def test_model_accepts_any_multiple_of_its_downsampling(models):
    model = models["realtime"]
    left, right = torch.rand(1, 3, 72, 104) * 255, torch.rand(1, 3, 72, 104) * 255  # multiples of 8, not of 32
    with torch.inference_mode():
        coarse, full = model(left, right, iters=1)
        assert coarse.shape == (1, 2, 9, 13) and full.shape == (1, 1, 72, 104)
        assert torch.all(coarse[:, 1] == 0)  # no vertical motion in stereo
        with pytest.raises(ValueError, match="multiple of 8"):
            model(left[..., :100], right[..., :100], iters=1)


def test_safetensors_and_deduplicated_aliases_load(models, tmp_path):
    from safetensors.torch import save_file

    state = {key: value.clone() for key, value in official_state_dict(models["realtime"]).items()}
    running_var = torch.rand(96) + 0.5
    state["module.cnet.layer2.0.norm3.running_var"] = running_var
    del state["module.cnet.layer2.0.downsample.1.running_var"]  # one name of an aliased tensor is enough
    path = tmp_path / "realtime.safetensors"
    save_file(state, str(path))
    teacher = RAFTStereoTeacher(checkpoint=str(path), config="realtime", iters=1)
    assert torch.equal(teacher.model.cnet.layer2[0].downsample[1].running_var, running_var)
    assert torch.equal(teacher.model.update_block.mask[2].weight, models["realtime"].update_block.mask[2].weight)


def _one_line_error(state: dict, model: RAFTStereo, match: str) -> str:
    with pytest.raises(EdgeDepthError, match=match) as err:
        load_official_state_dict(model, state, "ckpt.pth")
    assert "\n" not in str(err.value)
    return str(err.value)


def test_mismatching_checkpoints_give_one_line_errors(models):
    model = RAFTStereo(CONFIGS["realtime"])
    good = official_state_dict(models["realtime"])

    missing = {k: v for k, v in good.items() if k != "module.update_block.flow_head.conv2.bias"}
    assert "1 missing key, first: module.update_block.flow_head.conv2.bias" in _one_line_error(missing, model,
                                                                                                "missing")
    renamed = dict(good)
    renamed["module.update_block.flow_head.conv9.bias"] = renamed.pop("module.update_block.flow_head.conv2.bias")
    message = _one_line_error(renamed, model, "missing")
    assert "1 unexpected key, first: module.update_block.flow_head.conv9.bias" in message
    wrong = dict(good)
    wrong["module.update_block.mask.2.weight"] = torch.zeros(144, 256, 1, 1)
    assert "(144, 256, 1, 1), expected (576, 256, 1, 1)" in _one_line_error(wrong, model, "wrong shape")
    disagree = {k: v.clone() for k, v in good.items()}
    disagree["module.cnet.layer3.0.norm3.weight"] += 1
    _one_line_error(disagree, model, "name one tensor but differ")
    integer = dict(good)
    integer["module.conv2.1.bias"] = torch.zeros(256, dtype=torch.int64)
    _one_line_error(integer, model, "wrong dtype")
    # the default configuration's checkpoint is not a realtime one
    _one_line_error(official_state_dict(models["default"]), model, "missing keys.*unexpected keys.*wrong shape")


def test_unreadable_checkpoints_give_one_line_errors(checkpoints, tmp_path):
    cases = {"nope.pth": None, "garbage.pth": b"not a pickle at all", "list.pth": [torch.zeros(1)],
             "strings.pth": {"module.conv2.1.bias": "x"}}
    for name, content in cases.items():
        path = write_bad_checkpoint(tmp_path / name, content)
        with pytest.raises(EdgeDepthError) as err:
            RAFTStereoTeacher(checkpoint=str(path))
        assert "\n" not in str(err.value) and str(path) in str(err.value), name
    with pytest.raises(EdgeDepthError, match="does not fit"):  # a default checkpoint read as realtime
        RAFTStereoTeacher(checkpoint=str(checkpoints["default"]), config="realtime")


def test_teacher_parameters_are_checked():
    with pytest.raises(TeacherConfigError, match="checkpoint=PATH"):
        RAFTStereoTeacher()
    with pytest.raises(TeacherConfigError, match="unknown RAFT-Stereo config"):
        RAFTStereoTeacher(random_init=True, config="huge")
    with pytest.raises(TeacherConfigError, match="multiple of 8"):
        RAFTStereoTeacher(random_init=True, pad_to=12)
    with pytest.raises(TeacherConfigError, match="not both"):
        RAFTStereoTeacher(checkpoint="x.pth", random_init=True)


# ---- correlation ---------------------------------------------------------------------------------------------


def test_correlation_peaks_at_the_true_disparity():
    torch.manual_seed(0)
    d, radius, width = 3, 4, 24
    fmap1 = torch.randn(1, 64, 5, width)
    fmap2 = torch.roll(fmap1, shifts=-d, dims=3)  # left(y, x) = right(y, x − d)
    pyramid = CorrPyramid1D(fmap1, fmap2, num_levels=2, radius=radius)
    x = torch.arange(width, dtype=torch.float32).expand(1, 1, 5, width)
    corr = pyramid(x)  # looked up around zero flow
    assert corr.shape == (1, 2 * (2 * radius + 1), 5, width)
    peak = corr[0, : 2 * radius + 1].argmax(dim=0) - radius  # offset of the best match at level 0
    assert torch.all(peak[:, d:] == -d)  # flow −d = disparity d, wherever the match is inside the image
    volume = correlation_volume(fmap1, fmap2)
    assert torch.allclose(volume[0, 2, 10, 10 - d], (fmap1[0, :, 2, 10] ** 2).sum() / 8.0)  # scaled by 1/sqrt(64)


def test_lookup_interpolates_linearly_and_pools_width_only():
    torch.manual_seed(1)
    volume = torch.randn(7, 15)
    base = torch.tensor([0.0, 3.0, 7.0, 14.0, -2.0, 13.0, 20.0])
    lo, hi = lookup_row(volume, base, 3), lookup_row(volume, base + 1, 3)
    for frac in (0.25, 0.5, 0.9):
        assert torch.allclose(lookup_row(volume, base + frac, 3), (1 - frac) * lo + frac * hi, atol=1e-6)
    assert torch.equal(lo[1], volume[1, 0:7])  # integer positions read the volume exactly
    assert torch.all(lo[6] == 0)  # entirely outside the row: zeros

    fmap1, fmap2 = torch.randn(1, 8, 2, 6), torch.randn(1, 8, 2, 11)
    pyramid = CorrPyramid1D(fmap1, fmap2, num_levels=3, radius=1)
    full = correlation_volume(fmap1, fmap2).reshape(12, 11)
    assert torch.allclose(pyramid.levels[1], (full[:, 0:10:2] + full[:, 1:10:2]) / 2)  # odd column dropped
    assert pyramid.levels[2].shape == (12, 2)


def _grid_sample_lookup(volume: torch.Tensor, x: torch.Tensor, radius: int) -> torch.Tensor:
    """The official formulation: grid_sample (align_corners, zero padding) on a 1-row image per pixel.

    Evaluated in float64: in float32 the normalise/unnormalise round trip alone moves positions by ~1e-7·W.
    """
    volume, x = volume.double(), x.double()
    rows, width = volume.shape
    taps = x[:, None] + torch.arange(-radius, radius + 1, dtype=torch.float64)
    grid = torch.stack([2 * taps / (width - 1) - 1, torch.zeros_like(taps)], dim=-1)[:, None]  # N, 1, taps, 2
    out = F.grid_sample(volume[:, None, None, :], grid, align_corners=True)
    return out.reshape(rows, 2 * radius + 1).float()


def test_lookup_agrees_with_grid_sample_formulation():
    torch.manual_seed(2)
    for width in (2, 9, 40):
        volume = torch.randn(300, width) * 5
        x = torch.rand(300) * (width + 12) - 6  # inside, near and beyond both ends
        assert torch.allclose(lookup_row(volume, x, 4), _grid_sample_lookup(volume, x, 4), atol=1e-5, rtol=1e-5)


# ---- upsampling and the update schedule ----------------------------------------------------------------------


def test_convex_upsampling_with_centre_weights_is_scaled_nearest():
    torch.manual_seed(3)
    factor = 4
    flow = torch.randn(2, 1, 5, 7)
    mask = torch.full((2, 9, factor, factor, 5, 7), -1e4)
    mask[:, 4] = 0.0  # all weight on the centre of the 3×3 neighbourhood
    up = convex_upsample(flow, mask.view(2, 9 * factor * factor, 5, 7), factor)
    nearest = factor * flow.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    assert torch.allclose(up, nearest)
    mask.zero_()
    mask[:, 5] = 1e4  # all weight on the right neighbour (zero beyond the border)
    up = convex_upsample(flow, mask.view(2, 9 * factor * factor, 5, 7), factor)
    shifted = F.pad(flow[..., 1:], (0, 1))
    assert torch.allclose(up, factor * shifted.repeat_interleave(factor, 2).repeat_interleave(factor, 3))


@pytest.mark.parametrize(("config", "calls"), [
    (CONFIGS["realtime"], {"gru08": 1, "gru16": 2, "gru32": 0}),  # slow-fast with 2 levels
    (CONFIGS["default"], {"gru08": 1, "gru16": 1, "gru32": 1}),
    (RAFTStereoConfig(slow_fast_gru=True), {"gru08": 1, "gru16": 2, "gru32": 3}),
])
def test_gru_schedule_per_iteration(config, calls):
    torch.manual_seed(4)
    model = RAFTStereo(config).eval()
    counts = dict.fromkeys(calls, 0)
    for name in calls:
        getattr(model.update_block, name).register_forward_hook(lambda *_, n=name: counts.__setitem__(n, counts[n] + 1))
    with torch.inference_mode():
        model(torch.rand(1, 3, 64, 96) * 255, torch.rand(1, 3, 64, 96) * 255, iters=2)
    assert counts == {name: 2 * n for name, n in calls.items()}


# ---- the adapter ---------------------------------------------------------------------------------------------


def test_pad_amounts_follow_the_official_padder():
    def official(height: int, width: int, divis_by: int) -> list[int]:
        pad_ht = (((height // divis_by) + 1) * divis_by - height) % divis_by
        pad_wd = (((width // divis_by) + 1) * divis_by - width) % divis_by
        return [pad_wd // 2, pad_wd - pad_wd // 2, pad_ht // 2, pad_ht - pad_ht // 2]

    for height, width in ((375, 1242), (64, 96), (50, 70), (1, 33)):
        assert list(pad_amounts(height, width, 32)) == official(height, width, 32)


def test_adapter_returns_minus_flow_cropped_and_masks_the_unmatched_band(monkeypatch):
    teacher = RAFTStereoTeacher(random_init=True, iters=1)
    assert teacher.kind == "disparity"
    height, width = 50, 70  # padded to 64×96: 13 columns on the left, 7 rows on top
    seen = {}

    def fake_forward(left, right, iters=None, flow_init=None):
        seen["shape"], seen["iters"] = tuple(left.shape), iters
        columns = torch.arange(left.shape[-1], dtype=torch.float32)
        disparity = 5.0 + 0.01 * columns  # position-coded, to check the crop
        disparity[13 + 60:] = -1.0  # the network "predicts" negative disparity on the right
        return None, -disparity.expand(1, 1, *left.shape[-2:]).clone()

    monkeypatch.setattr(teacher.model, "forward", fake_forward)
    prediction = teacher.predict(sample(height, width))
    assert seen == {"shape": (1, 3, 64, 96), "iters": 1}
    expected = 5.0 + 0.01 * (np.arange(width) + 13)
    x = np.arange(width)
    inside = (x - expected >= -0.5) & (x < 60)  # the match lands in the right view; disparity ≤ 0 from column 60
    assert np.flatnonzero(inside)[0] == 5  # x = 4 would match at 4 − 5.17 < −0.5
    assert np.array_equal(prediction.valid, np.broadcast_to(inside, (height, width)))
    assert np.allclose(prediction.value[0, inside], expected[inside]) and np.all(prediction.value[:, ~inside] == 0)

    teacher.mask_border = False
    assert prediction.valid.sum() < teacher.predict(sample(height, width)).valid.sum()


def test_identity_and_params_rebuild(checkpoints):
    teacher = create_teacher("raft_stereo", checkpoint=str(checkpoints["realtime"]))
    assert teacher.iters == 7 and create_teacher("raft_stereo", random_init=True, config="default").iters == 32
    rebuilt = create_teacher("raft_stereo", **teacher.params())
    assert rebuilt.identity() == teacher.identity()
    identity = teacher.identity()
    assert identity["family"] == "raft-stereo" and identity["kind"] == "disparity"
    assert "threads" not in identity["params"] and len(identity["checkpoint_sha256"]) == 64
    json.dumps(identity)
