"""Using an exported bundle on one's own photos: fit rules, files that read back with independent readers, point
clouds at known depth, and bad input as one line with exit 2. Probe models whose output is a known function of
the input (the red channel; the left-minus-right red difference as disparity) make every mapping checkable."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from runtime.__main__ import main
from runtime.bundle import DISPARITY, METRIC, RELATIVE, load_bundle, write_manifest
from runtime.depth_io import read_pfm
from runtime.fit import plan_fit
from runtime.pointcloud import Camera, write_point_cloud

H, W = 32, 48  # the probe models' input


def _probe_bundle(root, stereo=False, kind=RELATIVE):
    """A bundle whose output is the input's red channel in 0..255 (mono), or left red − right red (stereo)."""
    names = ["left", "right"] if stereo else ["image"]
    nodes, source = [], names[0]
    if stereo:
        nodes.append(helper.make_node("Sub", ["left", "right"], ["diff"]))
        source = "diff"
    nodes += [helper.make_node("Slice", [source, "starts", "ends", "axes"], ["red"]),
              helper.make_node("Squeeze", ["red", "axes"], ["out"])]
    inits = [numpy_helper.from_array(np.array([v], np.int64), n) for n, v in
             (("starts", 0), ("ends", 1), ("axes", 1))]
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, H, W])
                                               for n in names],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, H, W])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    root.mkdir(parents=True)
    onnx.save(model, str(root / "model.onnx"))
    spec = {"shape": [1, 3, H, W], "dtype": "float32", "layout": "NCHW", "color": "RGB",
            "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "scale": 1.0}}
    write_manifest(root, {
        "name": root.name, "task": "stereo" if stereo else "mono", "format": "onnx", "precision": "fp32",
        "inputs": [{"name": n, **spec} for n in names],
        "outputs": [{"name": "out", "shape": [1, H, W], "dtype": "float32", "kind": kind}],
        "source": {"model": "probe", "teacher": {"name": "none"}, "checkpoint_sha256": None,
                   "calibration_sha256": None, "toolkit_version": "test"}})
    return load_bundle(root)


def _photo(path, height=60, width=120, mode="RGB"):
    """A smooth photo: red rises left to right, green top to bottom."""
    rows, cols = np.mgrid[0:height, 0:width]
    rgb = np.stack([cols * 255 // (width - 1), rows * 255 // (height - 1), np.full_like(rows, 90)], 2)
    Image.fromarray(rgb.astype(np.uint8)).convert(mode).save(path)
    return rgb.astype(np.float32)


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    return {"mono": _probe_bundle(root / "mono"), "stereo": _probe_bundle(root / "stereo", True, DISPARITY),
            "metric": _probe_bundle(root / "metric", kind=METRIC)}


@pytest.mark.parametrize("fit", ["stretch", "letterbox", "crop"])
def test_the_output_maps_back_onto_the_photo(fit, probes, tmp_path):
    """The probe returns the red channel, so the map brought back must be the photo's red channel again."""
    red = _photo(tmp_path / "wide.png")[..., 0]
    code = main(["predict", str(probes["mono"].path), str(tmp_path / "wide.png"), "--out", str(tmp_path / "o"),
                 "--fit", fit, "--save", "npy"])
    assert code == 0
    values = np.load(tmp_path / "o" / "wide.npy")
    assert values.shape == red.shape
    seen = np.isfinite(values)
    if fit == "crop":  # the centre 2:3 of a 1:2 photo: the left and right sixths are not seen
        assert not seen[:, :15].any() and not seen[:, -15:].any() and seen[:, 25:-25].all()
    else:
        assert seen.all()
    inner = seen & (np.arange(red.shape[1]) > 4) & (np.arange(red.shape[1]) < red.shape[1] - 5)
    assert np.abs(values[inner] - red[inner]).mean() < 3.0, fit


def test_letterbox_rescales_disparity_by_the_region_the_model_saw():
    fit = plan_fit("letterbox", (60, 240), (32, 48))  # 4:1 photo in a 3:2 input: 48 px across hold 240 px
    output = np.full((1, 32, 48), 3.0, np.float32)
    photo = fit.to_photo(output, DISPARITY)
    assert photo.shape == (60, 240) and np.allclose(photo, 3.0 * 240 / 48)
    assert fit.model_box[1] == 0 and fit.model_box[3] == 48 and fit.model_box[2] - fit.model_box[0] == 12


def test_pfm_reads_back_with_opencv_in_the_right_orientation(probes, tmp_path):
    import cv2

    _photo(tmp_path / "p.png", 40, 70)
    assert main(["predict", str(probes["mono"].path), str(tmp_path / "p.png"), "--out", str(tmp_path / "o"),
                 "--save", "npy,pfm,png,png16"]) == 0
    values = np.load(tmp_path / "o" / "p.npy")
    independent = cv2.imread(str(tmp_path / "o" / "p.pfm"), cv2.IMREAD_UNCHANGED)
    assert independent.shape == values.shape and np.array_equal(independent, values)
    assert np.array_equal(read_pfm(tmp_path / "o" / "p.pfm"), values)
    picture = Image.open(tmp_path / "o" / "p.depth.png")
    assert picture.size[0] == 70 and picture.size[1] > 40 and picture.text["edgedepth:kind"] == RELATIVE
    sixteen = Image.open(tmp_path / "o" / "p.depth16.png")
    encoded = np.asarray(sixteen).astype(np.float64)
    low, high = float(sixteen.text["edgedepth:min"]), float(sixteen.text["edgedepth:max"])
    decoded = low + (encoded - 1) * (high - low) / 65534
    assert np.abs(decoded - values).max() <= (high - low) / 65534


def test_point_cloud_of_a_plane_at_known_depth(tmp_path):
    from plyfile import PlyData

    depth = np.full((30, 40), 2.5, np.float32)
    depth[0, 0] = np.nan  # one pixel without a value: no point
    camera = Camera(fx=50.0, fy=50.0, cx=19.5, cy=14.5, width=40)
    image = np.zeros((30, 40, 3), np.uint8)
    image[..., 1] = 200
    count = write_point_cloud(tmp_path / "plane.ply", depth, METRIC, image, camera)
    ply = PlyData.read(str(tmp_path / "plane.ply"))
    vertex = ply["vertex"]
    assert count == len(vertex) == 30 * 40 - 1
    assert np.allclose(vertex["z"], 2.5)
    # pixel (row 29, col 39): x = (39 − 19.5)·2.5/50, y = (29 − 14.5)·2.5/50
    assert np.isclose(vertex["x"].max(), 19.5 * 2.5 / 50) and np.isclose(vertex["y"].max(), 14.5 * 2.5 / 50)
    assert set(vertex["green"]) == {200}
    assert any("metric depth" in c for c in ply.comments)


def test_point_cloud_from_disparity_and_a_middlebury_calibration(probes, tmp_path):
    from plyfile import PlyData

    _photo(tmp_path / "L.png", 60, 120)
    right = np.asarray(Image.open(tmp_path / "L.png")).copy()
    right[..., 0] = np.clip(right[..., 0].astype(int) - 20, 0, 255)  # red 20 lower: 20 px disparity
    Image.fromarray(right).save(tmp_path / "R.png")
    (tmp_path / "calib.txt").write_text("cam0=[1000 0 119.5; 0 1000 59.5; 0 0 1]\n"
                                        "cam1=[1000 0 119.5; 0 1000 59.5; 0 0 1]\ndoffs=0\nbaseline=100\n"
                                        "width=240\nheight=120\n")
    assert main(["predict", str(probes["stereo"].path), "--left", str(tmp_path / "L.png"), "--right",
                 str(tmp_path / "R.png"), "--out", str(tmp_path / "o"), "--save", "npy,ply",
                 "--calib", str(tmp_path / "calib.txt")]) == 0
    disparity = np.load(tmp_path / "o" / "L.npy")  # 20 in model pixels (48 wide) = 20·120/48 in the photo's
    assert np.allclose(np.median(disparity[:, 30:]), 20 * 120 / 48, rtol=0.02)
    z = PlyData.read(str(tmp_path / "o" / "L.ply"))["vertex"]["z"]
    # calib is for a 240-wide image: f = 500 px at 120 wide; Z = f·B/d = 500·0.1/50 = 1 m
    assert np.isclose(np.median(z), 500 * 0.1 / (20 * 120 / 48), rtol=0.02)


def _bad(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("case", ["unreadable", "truncated", "stereo given one image", "pair sizes differ",
                                  "output exists", "empty folder", "relative ply without scale"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, probes, tmp_path, capsys):
    _photo(tmp_path / "ok.png")
    out = tmp_path / "o"
    mono, stereo = str(probes["mono"].path), str(probes["stereo"].path)
    argv = {
        "unreadable": lambda: (tmp_path / "bad.jpg").write_bytes(b"not an image") and
        ["predict", mono, str(tmp_path / "bad.jpg"), "--out", str(out)],
        "truncated": lambda: (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:200]) and
        ["predict", mono, str(tmp_path / "cut.png"), "--out", str(out)],
        "stereo given one image": lambda: ["predict", stereo, str(tmp_path / "ok.png"), "--out", str(out)],
        "pair sizes differ": lambda: _photo(tmp_path / "small.png", 30, 60) is not None and
        ["predict", stereo, "--left", str(tmp_path / "ok.png"), "--right", str(tmp_path / "small.png"),
         "--out", str(out)],
        "output exists": lambda: (out.mkdir(), (out / "ok.npy").write_bytes(b"keep")) and
        ["predict", mono, str(tmp_path / "ok.png"), "--out", str(out), "--save", "png,npy"],
        "empty folder": lambda: (tmp_path / "none").mkdir() or
        ["predict", mono, str(tmp_path / "none"), "--out", str(out)],
        "relative ply without scale": lambda: ["predict", mono, str(tmp_path / "ok.png"), "--out", str(out),
                                               "--save", "ply", "--fx", "100"],
    }[case]()
    code, err = _bad(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    written = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert written == (["ok.npy"] if case == "output exists" else []), written
    if case == "output exists":
        assert (out / "ok.npy").read_bytes() == b"keep"


def test_exif_orientation_and_sixteen_bit_grey_are_read(tmp_path):
    from runtime.images import read_image

    grey16 = (np.arange(20 * 30, dtype=np.uint16).reshape(20, 30) * 100)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.shape == (20, 30, 3) and image.dtype == np.uint8
    assert abs(int(image[-1, -1, 0]) - round(grey16[-1, -1] / 257)) <= 1
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :5] = 255  # white on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    upright = read_image(tmp_path / "rot.jpg")
    assert upright.shape == (20, 10, 3) and upright[:5].mean() > 200 and upright[-5:].mean() < 50


def test_host_commands_match_the_device_side(probes, tmp_path, capsys):
    from edgedepth.cli import main as edgedepth_main

    _photo(tmp_path / "p.png")
    assert edgedepth_main(["predict", str(probes["mono"].path), str(tmp_path / "p.png"), "--out",
                           str(tmp_path / "host"), "--save", "npy"]) == 0
    assert main(["predict", str(probes["mono"].path), str(tmp_path / "p.png"), "--out", str(tmp_path / "device"),
                 "--save", "npy"]) == 0
    assert np.array_equal(np.load(tmp_path / "host" / "p.npy"), np.load(tmp_path / "device" / "p.npy"))
    assert edgedepth_main(["portrait", str(probes["mono"].path), str(tmp_path / "p.png"), "--out",
                           str(tmp_path / "bokeh.jpg")]) == 0
    assert Image.open(tmp_path / "bokeh.jpg").size == (120, 60)
    capsys.readouterr()
    assert edgedepth_main(["portrait", str(probes["stereo"].path), str(tmp_path / "p.png"), "--out",
                           str(tmp_path / "pair.png")]) == 2
    assert "--right" in capsys.readouterr().err and not (tmp_path / "pair.png").exists()


@pytest.mark.slow
def test_predict_runs_with_only_numpy_pillow_and_onnxruntime(probes, tmp_path):
    """The device side alone: a fresh venv with three packages and a copy of runtime/, nothing else importable."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "numpy>=2.0,<2.4", "pillow>=10",
                    "onnxruntime==1.32.0"], check=True, timeout=900, capture_output=True)
    device = tmp_path / "device"
    shutil.copytree(Path(__file__).resolve().parents[2] / "runtime", device / "runtime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    _photo(device / "photo.jpg")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print([m for m in ('torch', "
                            "'edgedepth', 'cv2', 'onnx') if u.find_spec(m)])"], cwd=device, env=env,
                           capture_output=True, text=True, timeout=120)
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    done = subprocess.run([str(python), "-m", "runtime", "predict", str(probes["mono"].path), "photo.jpg",
                           "--out", "out", "--save", "png,png16,npy,pfm"], cwd=device, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (device / "out").iterdir()) == ["photo.depth.png", "photo.depth16.png",
                                                                  "photo.npy", "photo.pfm"]
    assert np.load(device / "out" / "photo.npy").shape == (60, 120)


@pytest.mark.slow  # renders a portrait and a point cloud at demo size
def test_the_demo_shows_a_portrait_and_a_stereo_point_cloud(probes, tmp_path):
    from plyfile import PlyData

    from edgedepth.stages.showcase import showcase
    from runtime.host.report_html import render_html
    from runtime.host.report_model import use_section

    mono = showcase(tmp_path / "mono", [probes["mono"]])
    assert (tmp_path / "mono" / mono["portrait"]).is_file() and (tmp_path / "mono" / mono["depth"]).is_file()
    assert "point_cloud" not in mono
    lines, shown = use_section({"use": mono})
    assert [caption for caption, _ in shown] == ["portrait", "depth"] and "runtime portrait" in lines[0]
    html = render_html({"rows": [], "use": mono})
    assert "Use your model" in html and 'src="use/motorcycle_portrait.png"' in html
    stereo = showcase(tmp_path / "stereo", [probes["stereo"]])
    vertex = PlyData.read(str(tmp_path / "stereo" / stereo["point_cloud"]))["vertex"]
    assert len(vertex) == stereo["points"] > 0 and np.all(np.asarray(vertex["z"]) > 0)
