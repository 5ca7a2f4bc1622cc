"""`edgedepth distill --teacher self:stereo|self:video`: a couple of steps at a tiny size through the command line,
the checkpoint it writes, and its one-line refusals."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from edgedepth.data.procedural import make_scene
from edgedepth.data.sequences import make_sequence
from edgedepth.models import create_model

TINY = ["--size", "32x64", "--steps", "2", "--scenes", "2", "--batch-size", "2", "--mixed-precision", "off",
        "--threads", "1"]


def _student_is_plain(path: Path, teacher: str) -> None:
    """The checkpoint holds exactly the mono student (no training-only heads or pose network), declared relative."""
    model, info = load_student(path)
    assert info.output_kind == "relative_inverse_depth"
    assert info.teacher["name"] == teacher and info.training["supervision"]["teacher"] == 0.0
    assert set(model.state_dict()) == set(create_model("midas_small_lite0").state_dict())
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 32, 64))
    assert out.shape == (1, 32, 64) and torch.isfinite(out).all()


def test_self_stereo_trains_on_procedural_pairs(tmp_path: Path) -> None:
    out = tmp_path / "stereo.safetensors"
    assert main(["distill", "--teacher", "self:stereo", "--out", str(out), *TINY]) == 0
    _student_is_plain(out, "self:stereo")
    _, info = load_student(out)
    assert info.training["data"]["dataset"] == "procedural"
    assert np.isfinite(info.training["log"]["loss_last_10pct"])


def test_self_video_trains_on_procedural_sequences(tmp_path: Path) -> None:
    out = tmp_path / "video.safetensors"
    assert main(["distill", "--teacher", "self:video", "--out", str(out), *TINY]) == 0
    _student_is_plain(out, "self:video")
    _, info = load_student(out)
    assert info.training["data"]["dataset"] == "procedural-sequences"


def _pairs_folder(root: Path, calib: bool = True) -> Path:
    """Two rendered pairs in left/ and right/ with a Middlebury calib.txt of their rig."""
    for sub in ("left", "right"):
        (root / sub).mkdir(parents=True)
    for i in range(2):
        sample = make_scene(i, 48, 96)
        cv2.imwrite(str(root / "left" / f"{i}.png"), sample.left[..., ::-1])
        cv2.imwrite(str(root / "right" / f"{i}.png"), sample.right[..., ::-1])
    if calib:
        f, b = sample.calib.focal_px, sample.calib.baseline_m * 1000
        (root / "calib.txt").write_text(f"cam0=[{f} 0 47.5; 0 {f} 23.5; 0 0 1]\ndoffs=0\nbaseline={b}\nwidth=96\n")
    return root


def test_self_stereo_trains_on_a_pairs_folder(tmp_path: Path) -> None:
    out = tmp_path / "pairs.safetensors"
    folder = _pairs_folder(tmp_path / "pairs")
    assert main(["distill", "--teacher", "self:stereo", "--pairs", str(folder), "--out", str(out), *TINY[:2],
                 "--steps", "1", "--batch-size", "2", "--mixed-precision", "off", "--threads", "1"]) == 0
    _, info = load_student(out)
    assert info.training["data"]["dataset"] == "pairs" and info.training["data"]["pairs"] == 2
    # The rig's f·B at the input width: focal scales with the width, the baseline does not.
    sample = make_scene(1, 48, 96)
    expected = sample.calib.focal_px * sample.calib.baseline_m * 64 / 96
    assert info.training["data"]["focal_baseline_px_m_at_input"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--task", "stereo", "--teacher", "self:stereo"], "--task mono"),
    (["--teacher", "self:sideways"], "unknown self-supervision"),
    (["--teacher", "self:video", "--pairs", "PAIRS"], "use it with --objective self:stereo"),
    (["--teacher", "sgbm", "--pairs", "PAIRS"], "use it with --objective self:stereo"),
    (["--teacher", "self:stereo", "--pairs", "EMPTY"], "needs left/ and right/"),
    (["--teacher", "self:stereo", "--pairs", "NOCALIB"], "calib.txt is missing"),
    (["--teacher", "self:stereo", "--images", "PAIRS"], "--images: not available with --objective self:stereo"),
    (["--objective", "self:sideways"], "unknown objective 'self:sideways' (known: distill, self:stereo, self:video)"),
    (["--objective", "self:video", "--teacher", "self:stereo"], "--teacher self:stereo is the objective self:stereo"),
    (["--objective", "self:stereo", "--teacher", "sgbm"], "--teacher: not available with --objective self:stereo"),
    (["--objective", "self:stereo", "--device", "cpu"], "--device: not available with --objective self:stereo"),
    (["--objective", "distill", "--hints", "off"], "--hints: not available with --objective distill; use it with "
                                                    "--objective self:stereo or self:video"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str],
                                          message: str) -> None:
    (tmp_path / "EMPTY").mkdir()
    places = {"PAIRS": tmp_path / "EMPTY", "EMPTY": tmp_path / "EMPTY"}
    if "NOCALIB" in args:
        places["NOCALIB"] = _pairs_folder(tmp_path / "nocalib", calib=False)
    args = [str(places.get(a, a)) for a in args]
    assert main(["distill", *args, "--out", str(tmp_path / "x.safetensors"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.safetensors").exists()


def test_sequences_are_views_of_one_world() -> None:
    """The middle frame warped from its neighbours through the exact depth and poses matches it (the data's own
    geometry is right, so the pose network has something true to find)."""
    from edgedepth.selfsup.photometric import photometric_error
    from edgedepth.selfsup.warp import pose_matrix, warp_video

    seq = make_sequence(3, 96, 144)
    frames = torch.from_numpy(seq.frames.astype(np.float32) / 255).permute(0, 3, 1, 2)
    k = torch.from_numpy(seq.intrinsics.astype(np.float32))[None]
    depth = torch.from_numpy(seq.depth)[None, None]
    for source in (0, 2):
        # A point X seen from the middle camera is X − (c_source − c_middle) from the source camera.
        step = torch.from_numpy(-seq.centres[source].astype(np.float32))[None]
        error = {}
        for factor in (1.0, 0.0, -1.0, 2.0):  # the true motion, none, reversed, twice as far
            warped = warp_video(frames[source:source + 1], depth, k, pose_matrix(torch.zeros(1, 3), factor * step))
            error[factor] = photometric_error(warped, frames[1:2]).mean().item()
        assert error[1.0] < 0.6 * min(error[0.0], error[-1.0]) and error[1.0] < 0.8 * error[2.0], error
