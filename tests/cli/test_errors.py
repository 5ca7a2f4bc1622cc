"""Bad input through `edgedepth`: one line on stderr, exit 2, and nothing trained, exported or written first.

Only EdgeDepthError and BundleError (and their subclasses) are user errors; every case here must be raised as one
of them, since any other exception now escapes `main` as a traceback (a bug, not a user's mistake)."""

from __future__ import annotations

import pytest

from edgedepth.cli import main
from edgedepth.errors import EdgeDepthError
from runtime.errors import BundleError


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    from tests.helpers import make_student

    return make_student(tmp_path_factory.mktemp("cli-errors") / "student.safetensors")


def _cases(tmp, student):
    missing = str(tmp / "missing.safetensors")
    out = str(tmp / "out")
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    distill = ["distill", "--out", str(tmp / "s.safetensors"), "--steps", "1", "--scenes", "1", "--no-cache"]
    return {
        "missing checkpoint": (["export", "--student", missing, "--out", out], "no student checkpoint"),
        "unknown format": (["export", "--student", str(student), "--out", out, "--format", "onyx"], "onyx"),
        "unknown precision": (["export", "--student", str(student), "--out", out, "--precision", "int9"], "int9"),
        "unknown recipe": (["export", "--student", str(student), "--out", out, "--recipe", "nope"], "nope"),
        "not a bundle": (["quantize", "--bundle", str(empty), "--out", out], "manifest"),
        "no bundles to verify": (["verify", "--student", str(student), "--bundles", str(empty), "--out", out],
                                 "no bundle"),
        "unknown model": ([*distill, "--model", "resnet9000"], "resnet9000"),
        "unknown teacher": ([*distill, "--teacher", "oracle"], "oracle"),
        "bad teacher keyword value": ([*distill, "--teacher-arg", "num_disparities=7"], "num_disparities"),
        "mono model for stereo": ([*distill, "--task", "stereo", "--model", "midas_small_lite0"],
                                  "not a stereo student"),
        "stereo model for mono": ([*distill, "--model", "stereo_small"], "stereo student"),
    }


CASES = ("missing checkpoint", "unknown format", "unknown precision", "unknown recipe", "not a bundle",
         "no bundles to verify", "unknown model", "unknown teacher", "bad teacher keyword value",
         "mono model for stereo", "stereo model for mono")


def test_every_case_is_run(tmp_path):
    assert set(_cases(tmp_path, tmp_path / "s")) == set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(case, student, tmp_path, capsys):
    argv, expected = _cases(tmp_path, student)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgedepth: error:") and err.count("\n") == 1, err
    assert expected in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.safetensors").exists()


def test_a_bug_is_not_a_user_error(monkeypatch, student, tmp_path):
    """A ValueError from inside the code is a bug: it must surface, not become 'edgedepth: error: …'."""
    import edgedepth.cli as cli

    def broken(args):
        raise ValueError("an internal contract was broken")

    monkeypatch.setitem(cli.COMMANDS, "export", broken)
    with pytest.raises(ValueError, match="internal contract"):
        main(["export", "--student", str(student), "--out", str(tmp_path / "out")])


def test_user_errors_are_the_two_families():
    from edgedepth.errors import ConfigError
    from runtime.errors import BundleMismatch, OverwriteRefused, RequestError

    assert issubclass(ConfigError, EdgeDepthError)
    assert all(issubclass(cls, BundleError) for cls in (BundleMismatch, OverwriteRefused, RequestError))


def _lying_bundle(root):
    """A sealed ONNX bundle whose manifest declares a 64×96 input for a model that takes 8×12."""
    import json

    from runtime.bundle import write_manifest
    from tests.helpers import make_onnx_bundle

    bundle = make_onnx_bundle(root / "onnx-fp32", name="onnx-fp32")
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    manifest["inputs"][0]["shape"] = [1, 3, 64, 96]
    manifest.pop("files", None)
    write_manifest(bundle.path, manifest)
    return bundle.path


def test_verify_and_bench_exit_1_when_every_bundle_failed(student, tmp_path, capsys):
    """A CI gate on `edgedepth verify` must stop on broken artifacts, with the whole reason."""
    bundles = _lying_bundle(tmp_path / "bundles").parent
    fast = ["--eval-scenes", "1", "--warmup", "0", "--iters", "1", "--threads", "1", "--no-cache"]
    assert main(["verify", "--student", str(student), "--bundles", str(bundles), "--out", str(tmp_path / "v"),
                 *fast]) == 1
    err = capsys.readouterr().err
    assert "edgedepth: failed onnx-fp32: BundleMismatch:" in err and "[1, 3, 8, 12]" in err and "64, 96" in err
    assert main(["bench", "--student", str(student), "--bundles", str(bundles), "--out", str(tmp_path / "b"),
                 *fast]) == 1


def test_fidelity_budgets_gate_verify():
    from runtime.gate import failed_rows, over_budget

    rows = [{"artifact": "student:torch-fp32", "reference": True, "status": "ok", "fidelity": {"psnr_db": "inf"}},
            {"artifact": "onnx-int8", "status": "ok", "fidelity": {"psnr_db": 31.0},
             "accuracy": {"motorcycle": {"delta1_drop": 0.02}, "procedural": {"delta1_drop": 0.001}}},
            {"artifact": "coreml-w8", "status": "skipped", "reason": "needs macOS"}]
    assert failed_rows(rows) == [] and over_budget(rows) == []
    assert over_budget(rows, min_psnr=35.0) == ["onnx-int8: PSNR vs fp32 31.0 dB < 35.0 dB"]
    assert over_budget(rows, max_delta1_drop=0.01) == ["onnx-int8: δ1 drop 0.0200 on motorcycle > 0.01"]
    assert failed_rows([{"artifact": "x", "status": "failed", "reason": "boom"}]) == ["x: boom"]


def _png_bomb(path, width, height):
    """A valid 1-bit PNG of width×height, all black: about 100 KB on disk, gigabytes once decoded to RGB."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the row's bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_a_huge_declared_image_is_refused_before_decoding(tmp_path):
    import time

    from edgedepth.data.images import read_photo

    bomb = _png_bomb(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 1_000_000
    start = time.perf_counter()
    with pytest.raises(EdgeDepthError, match="bomb.png") as info:
        read_photo(bomb, max_side=1024)
    assert time.perf_counter() - start < 2.0 and "\n" not in str(info.value)


def test_a_tiny_photo_is_warned_about(tmp_path, capsys):
    from PIL import Image

    from edgedepth.data.images import read_photo

    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "dot.png")
    assert read_photo(tmp_path / "dot.png").shape == (1, 1, 3)
    assert "dot.png is 1×1" in capsys.readouterr().err


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify", "--student", "s", "--bundles", "b", "--out", "o", "--eval-scenes", "-1"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "--eval-scenes" in err and "usage" not in err


@pytest.mark.parametrize("where", ["proc", "directory"])
def test_a_bad_out_is_refused_before_training(where, tmp_path, capsys):
    """Before the fix, `distill --out /proc/x` trained first and lost the model to a traceback."""
    import time

    out = {"proc": "/proc/edgedepth-cannot-write/x.safetensors", "directory": str(tmp_path)}[where]
    start = time.perf_counter()
    code = main(["distill", "--out", out, "--force", "--steps", "50", "--scenes", "8"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and time.perf_counter() - start < 5.0, err
    assert ("cannot write" if where == "proc" else "is a directory") in err


def test_an_os_error_is_one_line(monkeypatch, tmp_path, capsys):
    import edgedepth.cli as cli

    def full_disk(args):
        raise OSError(28, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setitem(cli.COMMANDS, "export", full_disk)
    monkeypatch.delenv("EDGEDEPTH_DEBUG", raising=False)
    assert main(["export", "--student", "s", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgedepth: error: No space left on device") and err.count("\n") == 1


def test_quantize_of_a_corrupt_model_is_one_line_and_leaves_nothing(tmp_path, capsys):
    """The model's bytes garbled and its sha256 recomputed: the bundle loads, the quantizer cannot read it."""
    import json

    from runtime.bundle import write_manifest
    from tests.helpers import make_onnx_bundle

    bundle = make_onnx_bundle(tmp_path / "onnx-fp32", name="onnx-fp32")
    data = bytearray((bundle.path / "model.onnx").read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = b"\xff" * 64
    (bundle.path / "model.onnx").write_bytes(bytes(data))
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    write_manifest(bundle.path, {k: v for k, v in manifest.items() if k not in ("files", "digest")})
    out = tmp_path / "new" / "int8"
    code = main(["quantize", "--bundle", str(bundle.path), "--out", str(out), "--calibration", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot quantize onnx-fp32/model.onnx" in err, err
    assert not (tmp_path / "new").exists()  # no empty output folder either
