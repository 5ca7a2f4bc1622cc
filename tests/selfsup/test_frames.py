"""`edgedepth distill --teacher self:video --frames PATH`: a user's frames folder or video file becomes the clips and
input-size intrinsics the procedural sequences give, a couple of training steps run on it, and bad input is refused
in one line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedepth.checkpoint import load_student
from edgedepth.cli import main
from edgedepth.data.frames import read_frames
from edgedepth.data.sequences import Sequence, make_sequence
from edgedepth.errors import EdgeDepthError
from edgedepth.selfsup.data import frame_clips

HEIGHT, WIDTH = 32, 64
TRAIN = ["--size", f"{HEIGHT}x{WIDTH}", "--steps", "2", "--batch-size", "2", "--mixed-precision", "off",
         "--threads", "1"]


@pytest.fixture(scope="module")
def sequence() -> Sequence:
    """Five frames of a camera moving through a procedural scene, 48×96, with their exact intrinsics."""
    return make_sequence(7, 48, 96, frames=5)


def _k_lines(k: np.ndarray) -> str:
    return "\n".join(" ".join(repr(float(v)) for v in row) for row in k) + "\n"


def _write_frames(root: Path, frames: np.ndarray, k: np.ndarray | None) -> Path:
    """The frames as PNGs named so that sorted order is frame order, and intrinsics.txt (3×3) when `k` is given."""
    root.mkdir(parents=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(root / f"frame_{i:03d}.png"), np.ascontiguousarray(frame[..., ::-1]))
    if k is not None:
        (root / "intrinsics.txt").write_text(_k_lines(k))
    return root


def _write_video(path: Path, frames: np.ndarray) -> Path:
    """The frames as a Motion-JPEG AVI (lossy)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (frames.shape[2], frames.shape[1]))
    assert writer.isOpened(), "this OpenCV build writes no MJPG AVI"
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, sequence: Sequence) -> Path:
    return _write_frames(tmp_path_factory.mktemp("frames") / "clip", sequence.frames, sequence.intrinsics)


def test_folder_clips_and_intrinsics_are_the_sequence_s_own(folder: Path, sequence: Sequence) -> None:
    data = frame_clips(HEIGHT, WIDTH, str(folder), progress=False)
    small = sequence.resized(HEIGHT, WIDTH)
    frames = small.frames.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    assert data.images.shape == (5, 3, HEIGHT, WIDTH) and data.images.dtype == np.float32  # each frame once
    clips = data.take(np.arange(len(data)))
    assert len(data) == 3 and clips.shape == (3, 3, 3, HEIGHT, WIDTH)
    for i in range(3):  # clip i is (previous, target, next) around frame i + 1; PNG is lossless
        np.testing.assert_array_equal(clips[i], frames[i:i + 3])
    assert data.intrinsics.shape == (3, 3, 3) and data.intrinsics.dtype == np.float32
    np.testing.assert_allclose(data.intrinsics, np.repeat(small.intrinsics[None], 3, 0), rtol=1e-6, atol=1e-5)
    assert data.record["dataset"] == "frames" and data.record["frames"] == 5 and data.record["clips"] == 3
    assert data.record["frame_step"] == 1 and data.record["frame_size"] == [48, 96]
    np.testing.assert_allclose(data.record["intrinsics_at_input"], small.intrinsics, rtol=1e-6, atol=1e-5)


def test_four_number_intrinsics_and_a_frame_step(tmp_path: Path, folder: Path, sequence: Sequence) -> None:
    k = sequence.intrinsics
    (tmp_path / "k.txt").write_text(" ".join(repr(float(v)) for v in (k[0, 0], k[1, 1], k[0, 2], k[1, 2])))
    data = frame_clips(HEIGHT, WIDTH, str(folder), str(tmp_path / "k.txt"), frame_step=2, progress=False)
    small = sequence.resized(HEIGHT, WIDTH)
    assert len(data) == 1 and data.images.shape == (3, 3, HEIGHT, WIDTH)  # frames 0, 2, 4: one clip
    expected = small.frames[[0, 2, 4]].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    np.testing.assert_array_equal(data.take(np.array([0]))[0], expected)
    np.testing.assert_allclose(data.intrinsics[0], small.intrinsics, rtol=1e-6, atol=1e-5)
    assert data.record["frames"] == 3 and data.record["frame_step"] == 2


def test_intrinsics_scale_with_the_pixel_centre_convention(tmp_path: Path, folder: Path) -> None:
    """An off-centre, non-square K: fx by width/w0, fy by height/h0, c' = (c + 0.5)·scale − 0.5."""
    (tmp_path / "k.txt").write_text("100 0 40\n0 90 20\n0 0 1\n")
    data = frame_clips(HEIGHT, WIDTH, str(folder), str(tmp_path / "k.txt"), progress=False)
    sx, sy = WIDTH / 96, HEIGHT / 48
    expected = [[100 * sx, 0, 40.5 * sx - 0.5], [0, 90 * sy, 20.5 * sy - 0.5], [0, 0, 1]]
    np.testing.assert_allclose(data.intrinsics[0], expected, rtol=1e-6)


def test_a_video_file_reads_back(tmp_path: Path, sequence: Sequence) -> None:
    video = _write_video(tmp_path / "clip.avi", sequence.frames)
    frames = [frame for _, frame in read_frames(video)]
    assert len(frames) == 5 and all(f.shape == (48, 96, 3) and f.dtype == np.uint8 for f in frames)
    error = np.mean([np.abs(f.astype(float) - s).mean() for f, s in zip(frames, sequence.frames, strict=True)])
    assert error < 12, error  # Motion-JPEG is lossy; channels swapped or frames shuffled would be far more
    assert len(list(read_frames(video, step=2))) == 3
    (tmp_path / "k.txt").write_text(_k_lines(sequence.intrinsics))
    data = frame_clips(HEIGHT, WIDTH, str(video), str(tmp_path / "k.txt"), progress=False)
    small = sequence.resized(HEIGHT, WIDTH)
    assert len(data) == 3 and data.take(np.arange(3)).shape == (3, 3, 3, HEIGHT, WIDTH)
    assert np.abs(data.take(np.arange(3))[:, 1] - small.frames[1:4].transpose(0, 3, 1, 2) / 255.0).mean() < 0.05
    np.testing.assert_allclose(data.intrinsics[0], small.intrinsics, rtol=1e-6, atol=1e-5)


def test_self_video_trains_on_a_frames_folder(tmp_path: Path, folder: Path, sequence: Sequence) -> None:
    out = tmp_path / "frames.safetensors"
    assert main(["distill", "--teacher", "self:video", "--frames", str(folder), "--out", str(out), *TRAIN]) == 0
    _, info = load_student(out)
    data = info.training["data"]
    assert data["dataset"] == "frames" and data["frames"] == 5 and data["clips"] == 3
    assert data["path"] == str(folder.resolve()) and data["frame_step"] == 1
    np.testing.assert_allclose(data["intrinsics_at_input"], sequence.resized(HEIGHT, WIDTH).intrinsics,
                               rtol=1e-6, atol=1e-5)
    assert info.training["config"]["frames"] == str(folder)
    assert np.isfinite(info.training["log"]["loss_last_10pct"])


def _place(name: str, root: Path, sequence: Sequence) -> Path:
    """The input a refusal case names, written under `root`."""
    frames, k = sequence.frames, sequence.intrinsics
    if name == "FOLDER":
        return _write_frames(root / "ok", frames, k)
    if name == "TWO":
        return _write_frames(root / "two", frames[:2], k)
    if name == "SIZES":
        folder = _write_frames(root / "sizes", frames, k)
        cv2.imwrite(str(folder / "frame_002.png"), np.ascontiguousarray(frames[2, :40, :, ::-1]))
        return folder
    if name == "NOK":
        return _write_frames(root / "nok", frames, None)
    if name == "VIDEO":
        return _write_video(root / "clip.avi", frames)
    if name == "EMPTYVIDEO":
        return _write_video(root / "empty.avi", frames[:0])
    if name == "GARBAGE":
        (root / "garbage.avi").write_bytes(b"not a video " * 20)
        return root / "garbage.avi"
    texts = {"KFILE": _k_lines(k), "KWORDS": "fx=87 fy=87 cx=47.5 cy=23.5\n", "KTHREE": "87 47.5 23.5\n",
             "KZERO": "0 87 47.5 23.5\n", "KNEGATIVE": "87 0 47.5\n0 -87 23.5\n0 0 1\n"}
    (root / f"{name}.txt").write_text(texts[name])
    return root / f"{name}.txt"


@pytest.mark.parametrize("args, message", [
    (["--frames", "MISSING"], "not found"),
    (["--frames", "TWO"], "2 frame(s); a clip needs three"),
    (["--frames", "FOLDER", "--frame-step", "3"], "2 frame(s) with --frame-step 3"),
    (["--frames", "GARBAGE", "--intrinsics", "KFILE"], "cannot open"),
    (["--frames", "EMPTYVIDEO", "--intrinsics", "KFILE"], "yields no frame"),
    (["--frames", "SIZES"], "every frame must have the same size"),
    (["--frames", "NOK"], "intrinsics.txt is missing"),
    (["--frames", "VIDEO"], "give its intrinsics with --intrinsics"),
    (["--frames", "FOLDER", "--intrinsics", "MISSING"], "is missing"),
    (["--frames", "FOLDER", "--intrinsics", "KWORDS"], "unreadable intrinsics"),
    (["--frames", "FOLDER", "--intrinsics", "KTHREE"], "3 number(s)"),
    (["--frames", "FOLDER", "--intrinsics", "KZERO"], "focal lengths must be positive"),
    (["--frames", "FOLDER", "--intrinsics", "KNEGATIVE"], "focal lengths must be positive"),
    (["--intrinsics", "KFILE"], "give it with --frames"),
])
def test_bad_frames_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, sequence: Sequence,
                                            args: list[str], message: str) -> None:
    places = {a: _place(a, tmp_path, sequence) for a in args if a.isupper() and a != "MISSING"}
    places["MISSING"] = tmp_path / "missing"
    args = [str(places.get(a, a)) for a in args]
    out = tmp_path / "x.safetensors"
    assert main(["distill", "--teacher", "self:video", *args, "--out", str(out), *TRAIN]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("teacher, extra, message", [
    ("sgbm", [], "--frames: not available with --objective distill; use it with --objective self:video"),
    ("self:stereo", [], "--frames: not available with --objective self:stereo; use it with --objective self:video"),
    ("self:video", ["--pairs", "FOLDER"], "--pairs: not available with --objective self:video"),
    ("self:stereo", ["--pairs", "FOLDER"], "--frames: not available with --objective self:stereo"),
])
def test_frames_go_with_self_video_alone(tmp_path: Path, capsys: pytest.CaptureFixture, folder: Path, teacher: str,
                                         extra: list[str], message: str) -> None:
    extra = [str(folder) if a == "FOLDER" else a for a in extra]
    out = tmp_path / "x.safetensors"
    assert main(["distill", "--teacher", teacher, "--frames", str(folder), *extra, "--out", str(out), *TRAIN]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_the_library_raises_the_same_errors(tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text("87 87 47.5 23.5\n")
    with pytest.raises(EdgeDepthError, match="not found"):
        frame_clips(HEIGHT, WIDTH, str(tmp_path / "missing"), str(tmp_path / "k.txt"), progress=False)
    with pytest.raises(EdgeDepthError, match="at least 1"):
        next(read_frames(tmp_path, step=0))
