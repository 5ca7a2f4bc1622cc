"""Classical hints of the self-supervised objective: SGBM's disparity on the training pairs (the left view and the
mirrored right view the flip augmentation trains on), DIS flow on the clips (against the sequences' exact geometry,
and mirrored), the hint term against a pixel loop, and the switch on the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from edgedepth.data.procedural import make_scene
from edgedepth.data.sequences import make_sequence
from edgedepth.selfsup.hints import Hint, flow_hints, hinted_term, mirrored_flows, stereo_hint, stereo_hints, video_hint
from edgedepth.selfsup.objective import multiscale_loss
from edgedepth.selfsup.warp import pose_matrix, project_video, warp_stereo

TINY = ["--size", "32x64", "--steps", "2", "--scenes", "2", "--batch-size", "2", "--mixed-precision", "off",
        "--threads", "1"]


def _pair(sample) -> np.ndarray:
    """1×2×3×H×W in 0..1 of a sample's views."""
    return np.stack([sample.left, sample.right]).transpose(0, 3, 1, 2)[None].astype(np.float32) / 255.0


def test_hints_are_the_true_disparity_where_sgbm_vouches_for_them() -> None:
    sample = make_scene(3, 96, 144)
    hints = stereo_hints(_pair(sample), progress=False)[0]
    left = hints[0]
    valid = left > 0
    assert valid.mean() > 0.5
    truth = sample.disparity
    error = np.abs(left - truth)[valid & sample.valid]
    assert np.median(error) < 0.5 and (error > 3).mean() < 0.05
    # The mirrored right view's disparity: the true right-view disparity, mirrored. A right pixel x' = x − d(x)
    # of every visible left pixel carries d(x); mirrored, it sits at column (W − 1 − x').
    right = hints[1][:, ::-1]
    rows, cols = np.nonzero(valid & sample.valid)
    target = np.round(cols - truth[rows, cols]).astype(int)
    inside = (target >= 0) & (right[rows, target.clip(0)] > 0)
    agree = np.abs(right[rows[inside], target[inside]] - truth[rows[inside], cols[inside]]) < 1.0
    assert inside.mean() > 0.5 and agree.mean() > 0.8


def test_hinted_term_matches_a_pixel_loop() -> None:
    generator = torch.Generator().manual_seed(0)
    full = torch.rand(2, 1, 4, 5, generator=generator)
    per_pixel = torch.rand(2, 1, 4, 5, generator=generator)
    errors = torch.rand(2, 2, 4, 5, generator=generator)
    value = torch.rand(2, 2, 4, 5, generator=generator)
    valid = torch.rand(2, 2, 4, 5, generator=generator) > 0.3
    pixels = 19.2
    term, used = hinted_term(full, per_pixel, Hint(valid, errors, lambda out: (out * pixels - value).abs()))
    expected, count = 0.0, 0
    for n, s, y, x in np.ndindex(*errors.shape):
        if valid[n, s, y, x] and errors[n, s, y, x] < per_pixel[n, 0, y, x]:
            expected += float(np.log(1 + abs(float(full[n, 0, y, x]) * pixels - float(value[n, s, y, x]))))
            count += 1
    assert 0 < count < errors.numel() and int(used.sum()) == count
    assert float(term) == pytest.approx(expected / errors.numel(), rel=1e-5)


def _clip(seed: int) -> tuple[np.ndarray, object]:
    """1×3×3×H×W frames in 0..1 of a procedural sequence at 96×144, and the sequence."""
    sequence = make_sequence(seed, 192, 288).resized(96, 144)
    return sequence.frames.transpose(0, 3, 1, 2)[None].astype(np.float32) / 255.0, sequence


def test_flow_hints_agree_with_the_exact_geometry() -> None:
    clip, sequence = _clip(3)
    flows = flow_hints(lambda index: clip[index], 1, progress=False)
    assert flows.shape == (1, 2, 2, 96, 144) and flows.dtype == np.float16
    frames = torch.from_numpy(clip)
    depth = torch.from_numpy(sequence.depth.astype(np.float32))[None, None]
    k = torch.from_numpy(sequence.intrinsics.astype(np.float32))[None]
    motions = [pose_matrix(torch.zeros(1, 3), torch.from_numpy(-sequence.centres[s].astype(np.float32))[None])
               for s in (0, 2)]
    hint = video_hint(frames[:, 1], [frames[:, 0], frames[:, 2]], torch.from_numpy(flows.astype(np.float32)),
                      lambda out: [project_video(1.0 / out, k, motion) for motion in motions])
    distance = hint.distance(1.0 / depth)
    assert hint.valid.float().mean() > 0.7
    assert float(distance[hint.valid].median()) < 0.6 and float((distance[hint.valid] > 3).float().mean()) < 0.05
    # A wrong depth (twice as near) lands farther from the hints.
    assert float(hint.distance(2.0 / depth)[hint.valid].median()) > 2 * float(distance[hint.valid].median())


def test_a_landing_far_outside_the_image_counts_as_one_image_size_away_and_passes_no_gradient() -> None:
    """Near the source camera's plane x/z runs to any size: held within one image size, as `sample_at` holds it."""
    frames = torch.rand(1, 3, 3, 4, 6)
    flows = torch.zeros(1, 2, 2, 4, 6)

    def project(out: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(6.0), indexing="ij")
        return [(xs + out[:, 0], ys + 0 * out[:, 0]), (xs - out[:, 0], ys + 0 * out[:, 0])]

    hint = video_hint(frames[:, 1], [frames[:, 0], frames[:, 2]], flows, project)
    out = torch.zeros(1, 1, 4, 6)
    out[0, 0, 0, 0] = 1e7
    out[0, 0, 1, 1] = 2.0
    out.requires_grad_(True)
    distance = hint.distance(out)
    assert float(distance[0, 0, 0, 0]) == 2 * 6 - 0  # landed at x = 1e7, held at 2·width
    assert float(distance[0, 1, 0, 0]) == 0 + 6  # landed at x = −1e7, held at −width
    assert float(distance[0, 0, 1, 1]) == 2.0
    (gradient,) = torch.autograd.grad(distance.sum(), out)
    assert float(gradient[0, 0, 0, 0]) == 0.0  # held: no pull from 10⁷ px away
    assert float(gradient[0, 0, 1, 1]) == 2.0  # in reach: each source's distance grows with the output


def test_mirrored_flows_are_the_flows_of_the_mirrored_clip() -> None:
    clip, _ = _clip(5)
    flows = flow_hints(lambda index: clip[index], 1, progress=False).astype(np.float32)
    direct = flow_hints(lambda index: np.ascontiguousarray(clip[index][..., ::-1]), 1, progress=False)
    mirrored = mirrored_flows(flows)
    both = np.isfinite(mirrored) & np.isfinite(direct)
    assert both.mean() > 0.6
    assert np.median(np.abs(mirrored - direct)[both]) < 0.3
    # Moved to the mirrored columns but not negated, the horizontal parts disagree.
    unnegated = flows[..., ::-1]
    assert np.median(np.abs(unnegated - direct)[both]) > 3 * np.median(np.abs(mirrored - direct)[both])


def test_a_hint_pulls_towards_itself_only_where_it_reprojects_better() -> None:
    """A smoothly textured pair shifted by 4 px: a student at 3 px is pulled towards an exact hint; a wrong hint
    (8 px), which reprojects worse than the student, adds (almost) nothing."""
    generator = torch.Generator().manual_seed(1)
    noise = torch.rand(1, 3, 16, 56, generator=generator)
    right = torch.nn.functional.avg_pool2d(noise, (1, 5), 1)[..., 2:50]  # errors grow with the offset
    left = warp_stereo(right, torch.full((1, 1, 16, 48), 4.0))
    sources = [right]

    def synthesise(disp: torch.Tensor) -> list[torch.Tensor]:
        return [warp_stereo(right, disp)]

    student = torch.full((1, 1, 16, 48), 3.0, requires_grad=True)
    good = stereo_hint(left, right, torch.full((1, 1, 16, 48), 4.0), 1.0)
    bad = stereo_hint(left, right, torch.full((1, 1, 16, 48), 8.0), 1.0)
    plain, _ = multiscale_loss([student], left, sources, synthesise, automask=False)
    hinted, log = multiscale_loss([student], left, sources, synthesise, automask=False, hint=good)
    assert log["hinted"] > 0.8 and float((hinted - plain).detach()) > 0.8 * np.log(2.0)
    (gradient,) = torch.autograd.grad(hinted - plain, student)
    assert float(gradient[..., 8:].mean()) < 0  # raising the disparity towards 4 lowers the hint term
    wrong, log_wrong = multiscale_loss([student], left, sources, synthesise, automask=False, hint=bad)
    assert log_wrong["hinted"] < 0.1  # the few pixels where 8 px happens to match better (the image's border)
    assert float((wrong - plain).detach()) == pytest.approx(log_wrong["hinted"] * np.log(1 + 5.0), rel=1e-4)


def test_hints_are_on_by_default_and_can_be_switched_off(tmp_path: Path) -> None:
    on, off = tmp_path / "on.safetensors", tmp_path / "off.safetensors"
    assert main(["distill", "--teacher", "self:stereo", "--out", str(on), *TINY]) == 0
    assert main(["distill", "--teacher", "self:stereo", "--teacher-arg", "hints=off", "--out", str(off), *TINY]) == 0
    _, info_on = load_student(on)
    _, info_off = load_student(off)
    assert info_on.training["supervision"]["hints"] == "sgbm"
    assert 0 < info_on.training["log"]["hints"]["valid_fraction"] <= 1
    assert info_off.training["supervision"]["hints"] is None and "hints" not in info_off.training["log"]


def test_the_objective_spelling_trains_what_the_teacher_spelling_trains(tmp_path: Path) -> None:
    """--objective self:stereo --hints off is what --teacher self:stereo --teacher-arg hints=off always meant."""
    old, new = tmp_path / "old.safetensors", tmp_path / "new.safetensors"
    assert main(["distill", "--teacher", "self:stereo", "--teacher-arg", "hints=off", "--out", str(old), *TINY]) == 0
    assert main(["distill", "--objective", "self:stereo", "--hints", "off", "--out", str(new), *TINY]) == 0
    (old_model, old_info), (new_model, new_info) = load_student(old), load_student(new)
    for key, value in old_model.state_dict().items():
        assert torch.equal(value, new_model.state_dict()[key]), key
    assert old_info.teacher == new_info.teacher and old_info.training["config"] == new_info.training["config"]


@pytest.mark.parametrize("args, message", [
    (["--teacher", "self:stereo", "--teacher-arg", "hints=raft"], "expected one of on, off"),
    (["--objective", "self:video", "--hints", "off", "--teacher-arg", "hints=on"],
     "--teacher-arg: not available with --objective self:video"),
    (["--teacher", "self:stereo", "--teacher-arg", "depth=1"],
     "--teacher-arg: not available with --objective self:stereo"),
    (["--teacher", "self:video", "--teacher-arg", "pose=exact"],
     "--teacher-arg: not available with --objective self:video"),
])
def test_bad_hint_arguments_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                                   message: str) -> None:
    assert main(["distill", *args, "--out", str(tmp_path / "x.safetensors"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.safetensors").exists()
