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


# ---------------------------------------------------------------------------------------------- a second probe
# Values that reach the code through a door other than the command line (a manifest, a device's results, a
# calibration file, the environment), special files, signals during a write, and writes that race or would land
# where they must not.


def _manifest_edit(bundle: Path, edit) -> None:
    manifest = manifest_of(bundle)
    edit(manifest)
    seal(bundle, manifest)


def _deep_manifest(bundle: Path) -> None:
    (bundle / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)


def _no_digest(bundle: Path) -> None:
    manifest = manifest_of(bundle)
    manifest["eigest"] = manifest.pop("digest")  # one bit: "d" → "e"
    manifest["inputs"][0]["normalization"]["std"] = [0.329, 0.224, 0.225]
    (bundle / "manifest.json").write_text(json.dumps(manifest))


# name → (damage to a copy of the onnx bundle, what the one line says)
MANIFEST_DOORS = {
    "mean of two values": (lambda b: _manifest_edit(b, lambda m: _norm(m, mean=[0.4, 0.4])), "2 values for 3"),
    "std of 1e-300": (lambda b: _manifest_edit(b, lambda m: _norm(m, std=[1e-300] * 3)), "under 1e-06"),
    "mean of 1e300": (lambda b: _manifest_edit(b, lambda m: _norm(m, mean=[1e300] * 3)), "over 1e+06"),
    "JSON 100,000 deep": (_deep_manifest, "nests over"),
    "digest key renamed": (_no_digest, "has no digest"),
    "escape codes in the name": (lambda b: _manifest_edit(b, lambda m: m.update(name="x\x1b[2J\nowned")),
                                 "printable text"),
}


@pytest.mark.parametrize("command", ["info", "predict"])
@pytest.mark.parametrize("case", MANIFEST_DOORS)
def test_a_manifest_value_the_checks_refuse_is_refused_from_the_file(case, command, copy_of, photo, tmp_path,
                                                                      capsys):
    damage, needle = MANIFEST_DOORS[case]
    bundle = copy_of("onnx")
    damage(bundle)
    argv = ["info", bundle] if command == "info" else ["predict", bundle, photo, "--out", tmp_path / "out"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, needle)


def _bench(bundle, *more):
    return ["bench", bundle, "--iters", 1, "--warmup", 0, *more]


# name → (argv from (pristine, copy_of, tmp_path), exit code, what the one line says)
BENCH_OUTPUTS = {
    "--json onto the bundle's manifest": (lambda p, c, t: _bench(c("mono"), "--json", t / "mono/manifest.json"), 2,
                                          "already exists"),
    "--json into a bundle, --force": (lambda p, c, t: _bench(c("mono"), "--json", t / "mono/b.json", "--force"), 2,
                                      "never go into a bundle"),
    "--json onto a file": (lambda p, c, t: _bench(p["mono"], "--json", t / "old.json"), 2, "already exists"),
    "--json onto a folder": (lambda p, c, t: _bench(p["mono"], "--json", t / "d.png", "--force"), 2, "is a folder"),
    "--threads 100000": (lambda p, c, t: _bench(p["mono"], "--threads", 100_000), 2, "≤ 1,024"),
}


@pytest.mark.parametrize("case", BENCH_OUTPUTS)
def test_bench_never_overwrites_without_force_nor_writes_into_a_bundle(case, pristine, copy_of, tmp_path, capsys):
    argv, code, needle = BENCH_OUTPUTS[case]
    (tmp_path / "old.json").write_text("{}\n")
    (tmp_path / "d.png").mkdir()
    assert_refused(runtime_main, argv(pristine, copy_of, tmp_path), capsys, tmp_path, code, needle)


def test_bench_json_with_force_replaces_the_file(pristine, tmp_path, capsys):
    (tmp_path / "b.json").write_text("{}\n")
    code, err = run(runtime_main, _bench(pristine["mono"], "--json", tmp_path / "b.json", "--force"), capsys)
    assert code == 0 and json.loads((tmp_path / "b.json").read_text())["rows"][0]["status"] == "ok", err


def _calib(tmp_path: Path, **values) -> Path:
    fields = {"cam0": "[100 0 60; 0 100 30; 0 0 1]", "doffs": "0", "baseline": "100", "width": "120", **values}
    path = tmp_path / "calib.txt"
    path.write_text("".join(f"{k}={v}\n" for k, v in fields.items()))
    return path


# name → (extra argv from tmp_path, bundle, what the one line says)
CAMERA_NUMBERS = {
    "--fx 0": (lambda t: ["--fx", 0], "metric", "expected a finite number > 0"),
    "--fx nan": (lambda t: ["--fx", "nan"], "metric", "expected a finite number > 0"),
    "--scale nan": (lambda t: ["--fx", 100, "--scale", "nan", "--shift", 0], "mono", "expected a finite number > 0"),
    "--scale -1": (lambda t: ["--fx", 100, "--scale", -1, "--shift", 0], "mono", "expected a finite number > 0"),
    "--baseline 0": (lambda t: ["--fx", 100, "--baseline", 0], "stereo", "expected a finite number > 0"),
    "calib fx nan": (lambda t: ["--calib", _calib(t, cam0="[nan 0 60; 0 nan 30; 0 0 1]")], "stereo", "fx"),
    "calib baseline 0": (lambda t: ["--calib", _calib(t, baseline="0")], "stereo", "baseline"),
    "calib doffs -1000 (no positive depth)": (lambda t: ["--calib", _calib(t, doffs="-1000")], "stereo",
                                              "no pixel has a positive, finite depth"),
    "calib /dev/zero": (lambda t: ["--calib", "/dev/zero"], "stereo", "not a regular file"),
    "calib Latin-1": (lambda t: ["--calib", _latin1(t)], "stereo", "is not utf-8 text"),
    "calib of 2 MB": (lambda t: ["--calib", _big(t)], "stereo", "over the 1,048,576-byte limit"),
}


def _latin1(tmp_path: Path) -> Path:
    path = _calib(tmp_path)
    path.write_bytes(path.read_bytes() + "# caméra\n".encode("latin-1"))
    return path


def _big(tmp_path: Path) -> Path:
    path = _calib(tmp_path)
    path.write_bytes(path.read_bytes() + b"#" * (2 << 20))
    return path


@pytest.mark.parametrize("case", CAMERA_NUMBERS)
def test_a_point_cloud_needs_finite_positive_camera_numbers(case, pristine, photo, tmp_path, capsys):
    extra, which, needle = CAMERA_NUMBERS[case]
    probes = {**pristine, "metric": pristine["mono"]}
    if which == "metric":
        probes["metric"] = _probe_bundle(tmp_path / "metric-bundle", kind="metric_depth").path
    inputs = ["--left", photo, "--right", photo] if which == "stereo" else [photo]
    argv = ["predict", probes[which], *inputs, "--out", tmp_path / "out", "--save", "ply", *extra(tmp_path)]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, needle)


@pytest.mark.parametrize("aperture", ["inf", "nan", "1e6", "-1"])
def test_portrait_aperture_is_bounded(aperture, pristine, photo, tmp_path, capsys):
    argv = ["portrait", pristine["mono"], photo, "--out", tmp_path / "p.png", "--aperture", aperture]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, "--aperture")


def _nan_bundle(root: Path) -> Path:
    """The mono probe whose output is the red channel divided by zero: NaN and inf everywhere."""
    import onnx

    bundle = _probe_bundle(root).path
    model = onnx.load(str(bundle / "model.onnx"))
    graph = model.graph
    graph.node[-1].output[0] = "red2d"
    graph.node.extend([onnx.helper.make_node("Sub", ["red2d", "red2d"], ["zero"]),
                       onnx.helper.make_node("Div", ["red2d", "zero"], ["out"])])
    onnx.save(model, str(bundle / "model.onnx"))
    seal(bundle, manifest_of(bundle))
    return bundle


def _small_output_bundle(root: Path) -> Path:
    """The mono probe with its output shrunk to 8×8 by the model, the manifest still declaring the input's size."""
    import onnx

    bundle = _probe_bundle(root).path
    model = onnx.load(str(bundle / "model.onnx"))
    graph = model.graph
    graph.node[-1].output[0] = "full"
    graph.initializer.extend([onnx.numpy_helper.from_array(np.array([0, 0, 0], np.int64), "s0"),
                              onnx.numpy_helper.from_array(np.array([1, 8, 8], np.int64), "s1")])
    graph.node.append(onnx.helper.make_node("Slice", ["full", "s0", "s1"], ["out"]))
    del graph.output[0].type.tensor_type.shape.dim[:]
    onnx.save(model, str(bundle / "model.onnx"))
    seal(bundle, manifest_of(bundle))
    return bundle


OUTPUTS = {"NaN output": (_nan_bundle, "NaN or infinite"), "8×8 output": (_small_output_bundle, "has shape [1, 8, 8]")}


@pytest.mark.parametrize("case", OUTPUTS)
def test_a_model_output_is_checked_before_anything_is_written(case, photo, tmp_path, capsys):
    make, needle = OUTPUTS[case]
    bundle = make(tmp_path / "bundle")
    assert_refused(runtime_main, ["predict", bundle, photo, "--out", tmp_path / "out"], capsys, tmp_path, 2, needle)


def _float_tiff_over_one(path: Path) -> np.ndarray:
    values = np.linspace(0, 1, 120, dtype=np.float32)[None].repeat(60, 0)
    values[0, 0] = 1.001
    Image.fromarray(values, mode="F").save(path)
    return values / 1.001 * 255.0


def _int32_tiff(path: Path) -> np.ndarray:
    values = np.linspace(0, 300, 120).astype(np.int32)[None].repeat(60, 0)
    Image.fromarray(values, mode="I").save(path)
    return values / 300.0 * 255.0


FINE_IMAGES.update({"float TIFF with one pixel at 1.001": ("f101.tif", _float_tiff_over_one),
                    "32-bit integer TIFF up to 300": ("i32.tif", _int32_tiff)})
BAD_IMAGES.update({
    "PDF named .png": ("doc.png", lambda p: p.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), "cannot read"),
    "over predict's 50 Mpx": ("wide.png", lambda p: _png_bomb(p, 10000, 6000), "pixel limit of predict"),
})


def test_portrait_has_its_own_pixel_bound(pristine, tmp_path, capsys):
    _png_bomb(tmp_path / "big.png", 4000, 3001)
    argv = ["portrait", pristine["mono"], tmp_path / "big.png", "--out", tmp_path / "p.png"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, "pixel limit of portrait")


def test_portrait_right_view_on_a_mono_bundle_is_refused(pristine, photo, tmp_path, capsys):
    argv = ["portrait", pristine["mono"], photo, "--right", photo, "--out", tmp_path / "p.png"]
    assert_refused(runtime_main, argv, capsys, tmp_path, 2, "--right is for stereo bundles")


def test_a_newline_in_a_path_does_not_cut_the_line(pristine, tmp_path, capsys):
    name = tmp_path / "two\nlines.png"
    name.write_text("not a photo")
    err = assert_refused(runtime_main, ["predict", pristine["mono"], name, "--out", tmp_path / "out"], capsys,
                         tmp_path, 2, "two\\nlines.png")
    assert "cannot read image" in err


def test_a_name_near_the_file_system_limit_gets_a_temporary_name_that_fits(pristine, tmp_path, capsys):
    stem = "p" * (255 - len(".depth16.png"))
    Image.fromarray(_gradient()).save(tmp_path / "photo.png")
    (tmp_path / "photo.png").rename(tmp_path / f"{stem}.png")
    out = tmp_path / "out"
    code, err = run(runtime_main, ["predict", pristine["mono"], tmp_path / f"{stem}.png", "--out", out, "--save",
                                   "png16"], capsys)
    assert code == 0 and err == "", err
    assert (out / f"{stem}.depth16.png").is_file() and leftovers(tmp_path) == []


def test_of_two_writers_of_one_output_the_second_is_refused(pristine, photo, tmp_path, capsys, monkeypatch):
    """The other run writes photo.npy after this one checked --out and before this one writes it."""
    out = tmp_path / "out"
    real = runtime.atomic._publish

    def other_run_first(tmp, path, overwrite):
        path.write_bytes(b"the other run's complete output")
        return real(tmp, path, overwrite)

    monkeypatch.setattr(runtime.atomic, "_publish", other_run_first)
    code, err = run(runtime_main, ["predict", pristine["mono"], photo, "--out", out, "--save", "npy"], capsys)
    assert code == 2 and err.count("\n") == 1 and "already exists" in err, err
    assert (out / "photo.npy").read_bytes() == b"the other run's complete output" and leftovers(tmp_path) == []


def test_a_refused_run_leaves_no_empty_out_folder(pristine, tmp_path, capsys):
    (tmp_path / "doc.png").write_bytes(b"%PDF-1.4\n")
    assert_refused(runtime_main, ["predict", pristine["mono"], tmp_path / "doc.png", "--out", tmp_path / "a" / "out"],
                   capsys, tmp_path, 2, "cannot read image")
    assert not (tmp_path / "a").exists()


def test_sigterm_during_a_write_is_exit_143_and_leaves_nothing(pristine, photo, tmp_path, capsys, monkeypatch):
    """SIGTERM raised while the first output's bytes are flushed: handled as Ctrl-C, the temporary file removed."""
    import signal

    real_fsync = runtime.atomic.os.fsync

    def terminated(fd):
        os.kill(os.getpid(), signal.SIGTERM)
        return real_fsync(fd)

    monkeypatch.setattr(runtime.atomic.os, "fsync", terminated)
    before = snapshot(tmp_path)
    code, err = run(runtime_main, ["predict", pristine["mono"], photo, "--out", tmp_path / "out"], capsys)
    assert code == 143 and err == "python -m runtime: terminated\n", (code, err)
    assert leftovers(tmp_path) == [] and snapshot(tmp_path) == before and not (tmp_path / "out").exists()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # put back


def test_a_partial_folder_is_never_a_bundle(copy_of, tmp_path, capsys):
    """What a killed export leaves (a complete-looking, sealed folder) is refused by name, by bench and by info."""
    partial = copy_of("onnx").rename(tmp_path / ".onnx-fp32.partial-0123abcd")
    for command in (["info", partial], _bench(partial)):
        code, err = run(runtime_main, command, capsys)
        assert code == 2 and "temporary folder" in err and err.count("\n") == 1, err


# name → (the device file's rows, what the one line says); each merged into a report that must stay as it was
DEVICE_FILES = {
    "p50 of 10**400": ({"latency_ms": {"p50": 10**400}}, "latency_ms.p50"),
    "p50 'fast'": ({"latency_ms": {"p50": "fast"}}, "latency_ms.p50"),
    "negative FPS": ({"fps": -3.0}, "fps"),
    "status 'weird'": ({"status": "weird"}, "status"),
}


@pytest.mark.parametrize("case", DEVICE_FILES)
def test_a_device_file_with_values_a_report_cannot_hold_is_refused(case, tmp_path, capsys):
    from runtime.host.report import write_report

    fields, needle = DEVICE_FILES[case]
    write_report(tmp_path / "rep", {"rows": [], "task": "mono"})
    row = {"artifact": "onnx-fp32", "status": "ok", "latency_ms": {"p50": 5.0}, "fps": 200.0, **fields}
    device = tmp_path / "dev.json"
    device.write_text(json.dumps({"machine": {"cpu": "phone"}, "rows": [row]}))
    assert_refused(edgedepth_main, ["report", "--merge", device, "--out", tmp_path / "rep"], capsys, tmp_path, 2,
                   needle)


def test_a_special_file_is_never_read(tmp_path, capsys):
    from runtime.host.report import write_report

    write_report(tmp_path / "rep", {"rows": [], "task": "mono"})
    assert_refused(edgedepth_main, ["report", "--merge", "/dev/zero", "--out", tmp_path / "rep"], capsys, tmp_path, 2,
                   "not a regular file")


def test_raw_html_from_a_device_file_is_text_in_report_md(tmp_path, capsys):
    from runtime.host.report import write_report

    write_report(tmp_path / "rep", {"rows": [], "task": "mono"})
    device = tmp_path / "dev.json"
    device.write_text(json.dumps({"machine": {"cpu": "<script>alert(1)</script>"},
                                  "rows": [{"artifact": "<b>x</b>", "status": "ok", "latency_ms": {"p50": 5.0}}]}))
    code, err = run(edgedepth_main, ["report", "--merge", device, "--out", tmp_path / "rep"], capsys)
    assert code == 0, err
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "<script>" not in markdown and "<b>" not in markdown and "&lt;b&gt;x&lt;/b&gt;" in markdown
