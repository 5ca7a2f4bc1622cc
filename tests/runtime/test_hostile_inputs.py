"""Hostile inputs to the device kit, generated from tables: damaged model files and manifests; manifests that lie
about shapes, types, normalisation and hashes; links out of a bundle; unusual, broken and bomb images; stereo
pairs that do not pair; outputs that cannot be written or fill the disk. (Checkpoints: tests/stages/; teacher-cache
entries: tests/teachers/; calibration: tests/quantize/; the checks and damages they share: tests/hostile.py.)

A refusal is one line on stderr with the documented exit code (2 for bad input, 1 for an operating-system failure
on the way, 1 for `bench` rows that failed), no traceback, no temporary file left behind, and no file that existed
changed (every file under the test's folder is hashed before and after). Inputs that are merely unusual (16-bit,
grey, alpha, palette, CMYK, 1×1) must succeed and write the right values instead."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runtime.atomic
from edgedepth.cli import main as edgedepth_main
from runtime.__main__ import main as runtime_main
from runtime.bundle import hash_bundle_files, manifest_digest
from tests.cli.test_errors import _png_bomb
from tests.helpers import make_onnx_bundle
from tests.hostile import DAMAGES, PROC, assert_refused, leftovers, run, snapshot, truncated
from tests.runtime.test_predict import _photo, _probe_bundle

WEIGHTS = "model.mlpackage/Data/com.apple.CoreML/weights/weight.bin"


# ---------------------------------------------------------------------------------------------- bundles


def seal(root: Path, manifest: dict) -> None:
    """Write `manifest` with the sha256 of every file and a matching digest, as an editor can (no validation)."""
    manifest = {k: v for k, v in manifest.items() if k not in ("files", "digest")}
    manifest["files"] = hash_bundle_files(root)
    manifest["digest"] = manifest_digest(json.loads(json.dumps(manifest)))
    (root / "manifest.json").write_text(json.dumps(manifest))


def manifest_of(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Sealed bundles of each format (tflite and coreml: manifest-valid, the model bytes garbage), probe bundles
    whose output is the input's red channel, and photos."""
    root = tmp_path_factory.mktemp("pristine")
    onnx = make_onnx_bundle(root / "onnx").path
    manifest = manifest_of(onnx)
    tflite = root / "tflite"
    tflite.mkdir()
    (tflite / "model.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 4)
    seal(tflite, {**manifest, "format": "tflite",
                  "inputs": [{**manifest["inputs"][0], "layout": "NHWC", "shape": [1, 8, 12, 3]}]})
    coreml = root / "coreml"
    for rel, data in (("model.mlpackage/Manifest.json", b'{"fileFormatVersion": "1.0.0", "itemInfoEntries": {}}'),
                      ("model.mlpackage/Data/com.apple.CoreML/model.mlmodel", b"\x08\x07" + bytes(300)),
                      (WEIGHTS, bytes(range(256)) * 8)):
        (coreml / rel).parent.mkdir(parents=True, exist_ok=True)
        (coreml / rel).write_bytes(data)
    seal(coreml, {**manifest, "format": "coreml"})
    return {"onnx": onnx, "tflite": tflite, "coreml": coreml, "mono": _probe_bundle(root / "mono").path,
            "stereo": _probe_bundle(root / "stereo", stereo=True, kind="disparity").path}


@pytest.fixture
def copy_of(pristine, tmp_path):
    """A fresh copy of a pristine bundle inside this test's folder."""
    def copy(name: str) -> Path:
        return Path(shutil.copytree(pristine[name], tmp_path / name, symlinks=True))
    return copy


@pytest.fixture
def photo(tmp_path) -> Path:
    _photo(tmp_path / "photo.png")
    return tmp_path / "photo.png"


def garbled(data: bytes) -> bytes:
    """The same length, a stretch in the middle overwritten: what a bad sector or a botched copy leaves."""
    middle = len(data) // 3
    return data[:middle] + b"\xff" * 64 + data[middle + 64:]


MODEL_FILES = {"onnx": "model.onnx", "tflite": "model.tflite", "coreml": WEIGHTS}


# ---------------------------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("command", ["info", "predict"])
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("target", [*MODEL_FILES, "manifest"])
def test_a_damaged_bundle_file_is_refused(target, damage, command, copy_of, photo, tmp_path, capsys):
    """Any change to a listed file fails its sha256; any change to manifest.json its JSON or its digest."""
    fmt = "onnx" if target == "manifest" else target
    bundle = copy_of(fmt)
    victim = bundle / (MODEL_FILES.get(target) or "manifest.json")
    victim.write_bytes(DAMAGES[damage](victim.read_bytes()))
    argv = ["info", bundle] if command == "info" else ["predict", bundle, photo, "--out", tmp_path / "out"]
    needle = "manifest.json" if target == "manifest" else "sha256 mismatch"
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, needle)


@pytest.mark.parametrize("damage", ["truncated", "zero-length", "garbled"])
@pytest.mark.parametrize("fmt", MODEL_FILES)
def test_a_damaged_model_sealed_again_fails_in_one_line(fmt, damage, copy_of, photo, tmp_path, capsys):
    """The model's bytes broken and the manifest re-hashed over them: the bundle loads, its runner cannot read
    the model (or cannot run here at all) and `predict` says so in one line."""
    bundle = copy_of(fmt)
    victim = bundle / MODEL_FILES[fmt]
    victim.write_bytes({**DAMAGES, "garbled": garbled}[damage](victim.read_bytes()))
    seal(bundle, manifest_of(bundle))
    assert run(runtime_main, ["info", bundle], capsys)[0] == 0  # the hashes hold: only running can tell
    needle = "cannot run coreml bundles here" if fmt == "coreml" else "cannot load"
    assert_refused(runtime_main, ["predict", bundle, photo, "--out", tmp_path / "out"], capsys, tmp_path, 2, needle)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_bench_reports_a_sealed_broken_model_as_a_failed_row(fmt, copy_of, tmp_path, capsys):
    bundle = copy_of(fmt)
    victim = bundle / MODEL_FILES[fmt]
    victim.write_bytes(garbled(victim.read_bytes()))
    seal(bundle, manifest_of(bundle))
    before = snapshot(tmp_path)
    report = tmp_path / "bench.json"
    code, err = run(runtime_main, ["bench", bundle, "--warmup", 0, "--iters", 1, "--json", report], capsys)
    assert code == 1 and "Traceback" not in err, err
    (row,) = json.loads(report.read_text())["rows"]
    assert row["status"] == "failed" and "\n" not in row["reason"], row
    assert leftovers(tmp_path) == [] and {k: v for k, v in snapshot(tmp_path).items() if k != "bench.json"} == before


# ---------------------------------------------------------------------------------------------- lying manifests


def _input(manifest, **fields):
    manifest["inputs"][0].update(fields)


def _norm(manifest, **fields):
    manifest["inputs"][0]["normalization"].update(fields)


# name → (edit of the onnx bundle's manifest, what the one line says); the edited manifest gets a matching digest
# again (as an editor can recompute it) unless the lie is the digest itself.
LIES = {
    "input shape": (lambda m: _input(m, shape=[1, 3, 64, 96]), "the manifest declares [1, 3, 64, 96]"),
    "input layout": (lambda m: _input(m, layout="NHWC", shape=[1, 8, 12, 3]), "the manifest declares"),
    "input dtype": (lambda m: _input(m, dtype="float16"), "cannot run model.onnx"),
    "unknown dtype": (lambda m: _input(m, dtype="banana"), "dtype 'banana'"),
    "dynamic height": (lambda m: _input(m, shape=[1, 3, "h", 12]), "no fixed height"),
    "zero height": (lambda m: _input(m, shape=[1, 3, 0, 12]), "no fixed height"),
    "huge dimension": (lambda m: _input(m, shape=[1, 3, 100_000, 12]), "a dimension over"),
    "huge tensor": (lambda m: _input(m, shape=[1, 3, 16384, 16384]), "elements"),
    "extra input": (lambda m: m["inputs"].append({**m["inputs"][0], "name": "extra"}), "differ from the manifest"),
    "output name": (lambda m: m["outputs"][0].update(name="nope"), "differ from the manifest"),
    "output kind": (lambda m: m["outputs"][0].update(kind="vibes"), "kind 'vibes'"),
    "std zero (inf inputs)": (lambda m: _norm(m, std=[0.229, 0.0, 0.225]), "holds a zero"),
    "std NaN": (lambda m: _norm(m, std=[float("nan")] * 3), "not a finite number"),
    "mean Infinity": (lambda m: _norm(m, mean=[float("inf"), 0.4, 0.4]), "not a finite number"),
    "mean text": (lambda m: _norm(m, mean="grey"), "not a finite number"),
    "scale zero": (lambda m: _norm(m, scale=0), "holds a zero"),
    "no inputs": (lambda m: m.update(inputs=[]), "non-empty list"),
    "required fields gone": (lambda m: (m.clear(), m.update(list=[1])), "lacks name"),
    "absolute model_file": (lambda m: m.update(model_file="/etc/hostname"), "not a plain name"),
    "unknown format": (lambda m: m.update(format="onyx"), "not one of"),
    "file outside": (lambda m: m["files"].update({"../photo.png": "0" * 64}), "points outside the bundle"),
    "listed but missing": (lambda m: m["files"].update({"weights.bin": "0" * 64}), "listed in the manifest but"),
    "hash of another file": (lambda m: m["files"].update({"model.onnx": "ab" * 32}), "sha256 mismatch"),
    "no files": (lambda m: m.pop("files"), "lacks files"),
    "files a list": (lambda m: m.update(files=["model.onnx"]), "lacks files"),
    "digest of something else": (lambda m: m.update(digest="0" * 64), "does not match its digest"),
}
UNSEALED = ("digest of something else",)  # the lie is the digest itself


@pytest.mark.parametrize("lie", LIES)
def test_a_lying_manifest_is_refused_in_one_line(lie, copy_of, photo, tmp_path, capsys):
    edit, needle = LIES[lie]
    bundle = copy_of("onnx")
    manifest = manifest_of(bundle)
    edit(manifest)
    if lie not in UNSEALED:
        manifest.pop("digest", None)
        manifest["digest"] = manifest_digest(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    argv = ["predict", bundle, photo, "--out", tmp_path / "out"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, needle)


def test_the_manifest_json_itself_must_be_an_object(copy_of, tmp_path, capsys):
    bundle = copy_of("onnx")
    (bundle / "manifest.json").write_text("[1, 2, 3]")
    assert_refused(runtime_main, ["info", bundle], capsys, tmp_path, 2, "must be a JSON object")


# ---------------------------------------------------------------------------------------------- links


def _link_out(bundle: Path, rel: str, outside: Path) -> None:
    """Move `rel` out of the bundle to `outside` and leave a link to it in its place (same bytes, same hash)."""
    shutil.move(bundle / rel, outside)
    (bundle / rel).symlink_to(outside, target_is_directory=outside.is_dir())


LINKS = {"model file": ("onnx", "model.onnx"), "file in a package": ("coreml", WEIGHTS),
         "whole package": ("coreml", "model.mlpackage"), "manifest": ("onnx", "manifest.json")}


@pytest.mark.parametrize("command", ["info", "predict"])
@pytest.mark.parametrize("link", LINKS)
def test_a_link_out_of_the_bundle_is_refused(link, command, copy_of, photo, tmp_path, capsys):
    fmt, rel = LINKS[link]
    bundle = copy_of(fmt)
    _link_out(bundle, rel, tmp_path / f"elsewhere-{Path(rel).name}")
    argv = ["info", bundle] if command == "info" else ["predict", bundle, photo, "--out", tmp_path / "out"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, "link to a file outside the bundle")


def test_force_replaces_an_output_link_not_the_file_it_points_to(pristine, photo, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    precious = tmp_path / "precious.npy"
    precious.write_bytes(b"not yours to overwrite")
    (out / "photo.npy").symlink_to(precious)
    code, err = run(runtime_main, ["predict", pristine["mono"], photo, "--out", out, "--save", "npy", "--force"],
                    capsys)
    assert code == 0 and err == "", err
    assert precious.read_bytes() == b"not yours to overwrite"
    assert not (out / "photo.npy").is_symlink() and np.load(out / "photo.npy").shape == (60, 120)


# ---------------------------------------------------------------------------------------------- images


def _gradient(height=60, width=120) -> np.ndarray:
    """Red rises left to right, green top to bottom, blue constant (as test_predict's photos)."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols * 255 // (width - 1), rows * 255 // (height - 1), np.full_like(rows, 90)], 2).astype(
        np.uint8)


def _pillow_red(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.float32)[..., 0]


def _grey16(path: Path) -> np.ndarray:
    values = np.linspace(0, 65535, 120, dtype=np.float64)[None].repeat(60, 0)
    Image.fromarray(values.astype(np.uint16)).save(path)
    return values / 257.0


def _float_tiff(path: Path) -> np.ndarray:
    values = np.linspace(0, 1, 120, dtype=np.float32)[None].repeat(60, 0)
    Image.fromarray(values, mode="F").save(path)
    return values * 255.0


def _saved(mode: str, **options):
    def make(path: Path) -> np.ndarray:
        rgb = Image.fromarray(_gradient())
        (rgb.quantize(256) if mode == "P" else rgb.convert(mode)).save(path, **options)
        return _pillow_red(path)
    return make


def _one_pixel(path: Path) -> np.ndarray:
    Image.new("RGB", (1, 1), (200, 10, 10)).save(path)
    return np.full((1, 1), 200.0)


# name → (file name, writer returning the red channel the model must see)
FINE_IMAGES = {
    "16-bit grey PNG": ("g16.png", _grey16),
    "16-bit grey TIFF": ("g16.tif", _grey16),
    "float TIFF in 0..1": ("f32.tif", _float_tiff),
    "grey PNG": ("grey.png", _saved("L")),
    "grey+alpha PNG": ("la.png", _saved("LA")),
    "RGBA PNG": ("rgba.png", _saved("RGBA")),
    "palette PNG": ("palette.png", _saved("P")),
    "CMYK JPEG": ("cmyk.jpg", _saved("CMYK", quality=95)),
    "1×1 PNG": ("dot.png", _one_pixel),
}


@pytest.mark.parametrize("case", FINE_IMAGES)
def test_an_unusual_but_valid_image_is_predicted(case, pristine, tmp_path, capsys):
    """The probe bundle's output is the red channel it was fed, mapped back onto the photo: the map must match
    the red channel Pillow (or the known values) gives, at the photo's size."""
    name, write = FINE_IMAGES[case]
    expected = write(tmp_path / name)
    out = tmp_path / "out"
    code, err = run(runtime_main, ["predict", pristine["mono"], tmp_path / name, "--out", out, "--save", "npy,png16"],
                    capsys)
    assert code == 0 and err == "", err
    stem = Path(name).stem
    values = np.load(out / f"{stem}.npy")
    assert values.shape == expected.shape and np.isfinite(values).all()
    assert np.abs(values - expected).mean() < 3.0, np.abs(values - expected).mean()
    with Image.open(out / f"{stem}.depth16.png") as written:
        assert written.size == expected.shape[::-1]
    assert leftovers(tmp_path) == []


def _bit_flipped_png(path: Path) -> None:
    data = bytearray(Image.fromarray(_gradient())._repr_png_())
    data[18] ^= 0x01  # inside IHDR (the width): its CRC no longer matches
    path.write_bytes(bytes(data))


def _non_finite_tiff(value: float):
    def make(path: Path) -> None:
        values = np.linspace(0, 1, 120, dtype=np.float32)[None].repeat(60, 0)
        values[10, 10:20] = value
        Image.fromarray(values, mode="F").save(path)
    return make


# name → (file name, writer, what the one line says)
BAD_IMAGES = {
    "text named .jpg": ("notes.jpg", lambda p: p.write_text("not a photo\n"), "cannot read image"),
    "zero-length PNG": ("empty.png", lambda p: p.write_bytes(b""), "cannot read image"),
    "truncated PNG": ("cut.png", lambda p: p.write_bytes(truncated(Image.fromarray(_gradient())._repr_png_())),
                      "cannot read image"),
    "bit-flipped PNG header": ("flip.png", _bit_flipped_png, "cannot read image"),
    "decompression bomb": ("bomb.png", lambda p: _png_bomb(p, 12000, 12000), "pixel limit"),
    "bomb past Pillow's own limit": ("bigger.png", lambda p: _png_bomb(p, 20000, 20000), "decompression bomb"),
    "NaN float TIFF": ("nan.tif", _non_finite_tiff(float("nan")), "NaN or infinite"),
    "Inf float TIFF": ("inf.tif", _non_finite_tiff(float("inf")), "NaN or infinite"),
    "folder named .png": ("dir.png", lambda p: p.mkdir(), "no image"),
}


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_a_bad_image_is_refused_in_one_line(case, pristine, tmp_path, capsys):
    name, write, needle = BAD_IMAGES[case]
    write(tmp_path / name)
    argv = ["predict", pristine["mono"], tmp_path / name, "--out", tmp_path / "out"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, needle)


def test_a_bad_image_after_good_ones_leaves_only_whole_files(pristine, photo, tmp_path, capsys):
    """Photos are read one by one: what was predicted before the bad one is there, complete; nothing else."""
    (tmp_path / "zz.jpg").write_text("not a photo\n")
    out = tmp_path / "out"
    code, err = run(runtime_main, ["predict", pristine["mono"], photo, tmp_path / "zz.jpg", "--out", out, "--save",
                                   "npy"], capsys)
    assert code == 2 and err.count("\n") == 1 and "zz.jpg" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["photo.npy"] and np.load(out / "photo.npy").shape == (60, 120)
    assert leftovers(tmp_path) == []


def _stereo_case(tmp_path: Path, case: str) -> list:
    left, right = tmp_path / "L", tmp_path / "R"
    left.mkdir()
    right.mkdir()
    Image.fromarray(_gradient()).save(left / "a.png")
    if case == "sizes differ":
        Image.fromarray(_gradient(30, 60)).save(right / "a.png")
    elif case == "right view not an image":
        (right / "a.png").write_text("not a photo\n")
    elif case == "no partner":
        Image.fromarray(_gradient()).save(right / "b.png")
    return ["--left", left, "--right", right]


STEREO = {"sizes differ": "differ in size", "right view not an image": "cannot read image",
          "no partner": "do not pair up"}


@pytest.mark.parametrize("case", STEREO)
def test_a_stereo_pair_that_does_not_pair_is_refused(case, pristine, tmp_path, capsys):
    argv = ["predict", pristine["stereo"], *_stereo_case(tmp_path, case), "--out", tmp_path / "out"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, STEREO[case])


# ---------------------------------------------------------------------------------------------- unwritable outputs

UNWRITABLE = {
    "predict into /proc": (runtime_main, lambda b, p, t, s: ["predict", b["mono"], p, "--out", f"{PROC}/out"],
                           "cannot write"),
    "predict into a file": (runtime_main, lambda b, p, t, s: ["predict", b["mono"], p, "--out", p], "is a file"),
    "portrait into /proc": (runtime_main, lambda b, p, t, s: ["portrait", b["mono"], p, "--out", f"{PROC}/x.png"],
                            "cannot write"),
    "portrait onto a folder": (runtime_main, lambda b, p, t, s: ["portrait", b["mono"], p, "--out", t / "d.png",
                                                              "--force"], "is a folder"),
    "bench --json into /proc": (runtime_main, lambda b, p, t, s: ["bench", b["mono"], "--iters", 1, "--warmup", 0,
                                                               "--json", f"{PROC}/b.json"], "cannot write"),
}


@pytest.mark.parametrize("case", UNWRITABLE)
def test_an_output_where_nothing_can_be_written_is_refused_first(case, pristine, photo, tmp_path, capsys):
    main, argv, needle = UNWRITABLE[case]
    (tmp_path / "d.png").mkdir()
    assert_refused(main, argv(pristine, photo, tmp_path, None), capsys, tmp_path, 2, needle)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused_first(pristine, photo, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert_refused(runtime_main, ["predict", pristine["mono"], photo, "--out", out], capsys, tmp_path, 2,
                       "cannot write")
    finally:
        out.chmod(0o755)


# ---------------------------------------------------------------------------------------------- a full disk


@pytest.fixture
def full_disk(monkeypatch):
    """Every atomic write fails as a full disk does, when its bytes are flushed."""
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runtime.atomic.os, "fsync", no_space)
    monkeypatch.delenv("EDGEDEPTH_DEBUG", raising=False)


FULL_DISK = {
    "predict": (runtime_main, lambda b, p, t, s: ["predict", b["mono"], p, "--out", t / "out"]),
    "predict over old outputs": (runtime_main, lambda b, p, t, s: ["predict", b["mono"], p, "--out", t / "old",
                                                                "--force"]),
    "portrait": (runtime_main, lambda b, p, t, s: ["portrait", b["mono"], p, "--out", t / "bokeh.jpg"]),
    "bench --json": (runtime_main, lambda b, p, t, s: ["bench", b["mono"], "--iters", 1, "--warmup", 0, "--json",
                                                    t / "b.json"]),
    "edgedepth predict": (edgedepth_main, lambda b, p, t, s: ["predict", b["mono"], p, "--out", t / "out", "--save",
                                                           "pfm"]),
}


@pytest.mark.parametrize("case", FULL_DISK)
def test_a_full_disk_is_one_line_exit_1_and_leaves_old_files_alone(case, pristine, photo, full_disk, tmp_path,
                                                                   capsys):
    main, argv = FULL_DISK[case]
    old = tmp_path / "old"
    old.mkdir()
    for name in ("photo.depth.png", "photo.npy"):
        (old / name).write_bytes(b"an earlier run's output")
    assert_refused(main, argv(pristine, photo, tmp_path, None), capsys, tmp_path, 1, "No space left on device")
