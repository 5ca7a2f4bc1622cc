"""Atomic writes and Contract 1 (the bundle): manifests, sha256 pinning and one-line refusals."""

import hashlib
import json

import pytest

from runtime import atomic
from runtime.atomic import atomic_directory, atomic_file
from runtime.bundle import BundleError, load_bundle, sha256_file, write_manifest
from tests.helpers import minimal_manifest


def make_bundle(root, data=b"model bytes", **extra):
    root.mkdir(parents=True)
    (root / "model.onnx").write_bytes(data)
    return write_manifest(root, minimal_manifest(**extra))


def no_temp_files(directory):
    return not [p.name for p in directory.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------- atomic


def test_atomic_writes(tmp_path):
    atomic.atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic.atomic_write_text(tmp_path / "sub" / "b.txt", "héllo")
    report = {"psnr": float("inf"), "low": float("-inf"), "x": float("nan"), "n": 2}
    atomic.atomic_write_json(tmp_path / "c.json", report)
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    text = (tmp_path / "c.json").read_text()
    strict = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert strict == {"psnr": "inf", "low": "-inf", "x": None, "n": 2}
    assert no_temp_files(tmp_path)


def test_atomic_file_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "weights.safetensors"
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".safetensors" and not tmp.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"new" and no_temp_files(tmp_path)
    with pytest.raises(FileNotFoundError), atomic_file(tmp_path / "never.bin"):
        pass
    assert not (tmp_path / "never.bin").exists()


def test_atomic_directory(tmp_path):
    final = tmp_path / "bundle"
    with atomic_directory(final, force=False) as work:
        assert work.parent == tmp_path and work != final
        (work / "a").write_text("1")
        assert not final.exists()
    assert (final / "a").read_text() == "1"
    with pytest.raises(FileExistsError, match="--force") as info:
        with atomic_directory(final, force=False):
            pytest.fail("must refuse before the block runs")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError), atomic_directory(final, force=True) as work:
        (work / "a").write_text("2")
        raise ValueError("export failed half-way")
    assert (final / "a").read_text() == "1"  # the old one survives a failed replacement
    with atomic_directory(final, force=True) as work:
        (work / "b").write_text("3")
        assert (final / "a").exists()  # replaced only once the new one is complete
    assert sorted(p.name for p in final.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


# ---------------------------------------------------------------------------------------------- bundle


def test_write_manifest_and_load(tmp_path):
    root = tmp_path / "onnx-fp32"
    manifest = minimal_manifest()
    root.mkdir()
    (root / "model.onnx").write_bytes(b"model bytes")
    written = write_manifest(root, manifest)
    assert "files" not in manifest  # the argument is not modified
    assert written["files"] == {"model.onnx": hashlib.sha256(b"model bytes").hexdigest()}
    assert sha256_file(root / "model.onnx") == hashlib.sha256(b"model bytes").hexdigest()
    bundle = load_bundle(root)
    assert bundle.path == root and bundle.model_path == root / "model.onnx"
    assert (bundle.name, bundle.format, bundle.precision, bundle.task) == ("tiny", "onnx", "fp32", "mono")
    assert bundle.inputs[0]["name"] == "image" and bundle.outputs[0]["kind"] == "relative_inverse_depth"
    assert load_bundle(root / "manifest.json").manifest == bundle.manifest
    assert no_temp_files(root)


def test_mlpackage_files_are_hashed_one_by_one(tmp_path):
    root = tmp_path / "coreml-fp32"
    package = root / "model.mlpackage"
    (package / "Data" / "com.apple.CoreML").mkdir(parents=True)
    (package / "Manifest.json").write_text("{}")
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec")
    written = write_manifest(root, minimal_manifest(fmt="coreml"))
    assert set(written["files"]) == {"model.mlpackage/Manifest.json",
                                     "model.mlpackage/Data/com.apple.CoreML/model.mlmodel"}
    assert load_bundle(root).model_path == package
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(b"spec!")
    with pytest.raises(BundleError, match="model.mlmodel sha256 mismatch"):
        load_bundle(root)


def test_tampered_model_is_refused(tmp_path):
    root = tmp_path / "b"
    make_bundle(root)
    (root / "model.onnx").write_bytes(b"model bytes, changed")
    with pytest.raises(BundleError) as info:
        load_bundle(root)
    message = str(info.value)
    assert message.startswith(f"bundle {root}: model.onnx sha256 mismatch (expected ")
    assert "got " in message and "\n" not in message


@pytest.mark.parametrize("damage, match", [
    (lambda r: (r / "manifest.json").unlink(), "manifest.json is missing"),
    (lambda r: (r / "manifest.json").write_text("{not json"), "not valid JSON"),
    (lambda r: (r / "model.onnx").unlink(), "model.onnx is listed in the manifest but missing"),
    (lambda r: _edit(r, lambda m: m.pop("task")), "lacks task"),
    (lambda r: _edit(r, lambda m: m["source"].pop("toolkit_version")), "source lacks toolkit_version"),
    (lambda r: _edit(r, lambda m: m["inputs"][0].pop("layout")), r"inputs\[0\] lacks layout"),
    (lambda r: _edit(r, lambda m: m["outputs"][0].update(kind="colour")), "kind 'colour'"),
    (lambda r: _edit(r, lambda m: m.update(format="pytorch")), "format 'pytorch'"),
    (lambda r: _edit(r, lambda m: m.pop("files")), "lacks files"),
    (lambda r: _edit(r, lambda m: m["files"].update({"../etc/passwd": "0"})), "outside the bundle"),
    # The manifest itself is covered by its digest: an edit that keeps it valid is still caught.
    (lambda r: _edit(r, lambda m: m["inputs"][0]["normalization"].update(scale=1.0)), "does not match its digest"),
    (lambda r: _edit(r, lambda m: m["inputs"][0].update(shape=[1, 3, 4096, 4096 * 8])), "over 16384"),
    (lambda r: _edit(r, lambda m: m["inputs"][0].update(shape=[64, 3, 4096, 4096])), "elements"),
    (lambda r: _link_outside(r), "a link to a file outside the bundle"),
])
def test_broken_bundles_give_one_line_errors(tmp_path, damage, match):
    root = tmp_path / "b"
    make_bundle(root)
    damage(root)
    with pytest.raises(BundleError, match=match) as info:
        load_bundle(root)
    assert "\n" not in str(info.value)


def _link_outside(root):
    """model.onnx replaced by a link to a file elsewhere that has the same bytes (so its sha256 matches)."""
    outside = root.parent / "elsewhere.onnx"
    outside.write_bytes((root / "model.onnx").read_bytes())
    (root / "model.onnx").unlink()
    (root / "model.onnx").symlink_to(outside)


def _edit(root, change):
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_write_manifest_refuses_incomplete_bundles(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="model.onnx is missing"):
        write_manifest(tmp_path / "empty", minimal_manifest())
    bad = minimal_manifest()
    del bad["outputs"]
    with pytest.raises(BundleError, match="lacks outputs"):
        write_manifest(tmp_path / "empty", bad)
    with pytest.raises(BundleError, match="no such directory"):
        load_bundle(tmp_path / "nowhere")
