"""The benchmark readers on small folders written byte by byte in each benchmark's layout: every layout reads, and
a missing or malformed file is one line."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgedepth.data import get_dataset
from edgedepth.data.benchmarks import BenchmarkError
from edgedepth.data.benchmarks.files import read_png16
from runtime.depth_io import read_pfm
from tests.datasets.benchmark_files import bmp24, middlebury_2014_scene, pfm, png, pnm, rgb, write


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


# ------------------------------------------------------------------------------------------ file formats


@pytest.mark.parametrize("little_endian", [True, False])
def test_pfm_reads_in_both_byte_orders_top_row_first(tmp_path, little_endian):
    values = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5
    values[2, 3] = np.inf
    path = write(tmp_path / "d.pfm", pfm(values, little_endian))
    assert np.array_equal(read_pfm(path), values)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), values)  # an independent reader agrees


@pytest.mark.parametrize("data, words", [(b"P5\n2 2\n255\n" + bytes(4), "not a PFM"),
                                         (b"Pf\n4 3\n-1\n" + bytes(40), "cut short"),
                                         (b"Pf\nfour 3\n-1\n" + bytes(48), "malformed"),
                                         (b"Pf\n4", "cut short")])
def test_a_malformed_pfm_is_one_line(tmp_path, data, words):
    path = write(tmp_path / "bad.pfm", data)
    with pytest.raises(ValueError) as exc:
        read_pfm(path)
    assert words in _one_line(exc)


def test_sixteen_bit_png_reads_exactly(tmp_path):
    values = np.array([[0, 1, 256], [3200, 65535, 12345]], np.uint16)
    path = write(tmp_path / "d.png", png(values))
    assert np.array_equal(read_png16(path), values)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), values)
    eight = write(tmp_path / "e.png", png(values.astype(np.uint8)))
    with pytest.raises(BenchmarkError) as exc:
        read_png16(eight)
    assert "16-bit" in _one_line(exc)


# ------------------------------------------------------------------------------------------ Middlebury, ETH3D


def test_middlebury_2014_scene(tmp_path):
    disparity = middlebury_2014_scene(tmp_path / "mb" / "Toy")
    [sample] = get_dataset("middlebury", folder=str(tmp_path / "mb"))
    assert sample.left.shape == (24, 40, 3) and sample.right.shape == (24, 40, 3)
    assert not sample.valid[0, 0] and sample.disparity[0, 0] == 0  # +inf = unknown
    assert sample.valid[1:].all() and np.allclose(sample.disparity[1:], disparity[1:])
    calib = sample.calib
    assert (calib.focal_px, calib.baseline_m, calib.doffs_px, calib.ndisp) == (100.0, 0.2, 2.0, 40.0)
    assert sample.depth[5, 0] == pytest.approx(100 * 0.2 / (5.0 + 2.0))
    assert not sample.nonoccluded[:, :10].any() and sample.nonoccluded[1:, 10:].all()
    assert get_dataset("middlebury", folder=str(tmp_path / "mb")).protocols == ("middlebury",)


def test_eth3d_reads_big_endian_ground_truth(tmp_path):
    middlebury_2014_scene(tmp_path / "eth" / "delivery_area_1l", truth="disp0GT.pfm", little_endian=False)
    [sample] = get_dataset("eth3d", folder=str(tmp_path / "eth"))
    assert sample.disparity[3, 39] == pytest.approx(20.0) and sample.nonoccluded is not None


def test_middlebury_classic_scales(tmp_path):
    truth = np.tile(np.arange(0, 40, dtype=np.uint8), (6, 1))  # column x holds x (0 = unknown)
    tsukuba = tmp_path / "mb" / "tsukuba"
    write(tsukuba / "scene1.row3.col3.ppm", pnm(rgb(6, 40)))
    write(tsukuba / "scene1.row3.col4.ppm", pnm(rgb(6, 40, 1)))
    write(tsukuba / "truedisp.row3.col3.pgm", pnm(truth))
    venus = tmp_path / "mb" / "venus"
    write(venus / "im2.ppm", pnm(rgb(6, 40)))
    write(venus / "im6.ppm", pnm(rgb(6, 40, 1)))
    write(venus / "disp2.bmp", bmp24(truth))
    cones = tmp_path / "mb" / "cones"
    write(cones / "im2.png", png(rgb(6, 40)))
    write(cones / "im6.png", png(rgb(6, 40, 1)))
    write(cones / "disp2.png", png(truth))
    nonocc = np.full((6, 40), 255, np.uint8)
    nonocc[:, 30:] = 0
    write(cones / "nonocc.png", png(nonocc))
    for name, width in (("art-third", 40), ("art-half", 700)):
        wide = np.tile(np.arange(width, dtype=np.int64) % 256, (2, 1)).astype(np.uint8)
        write(tmp_path / "mb" / name / "view1.png", png(rgb(2, width)))
        write(tmp_path / "mb" / name / "view5.png", png(rgb(2, width, 1)))
        write(tmp_path / "mb" / name / "disp1.png", png(wide))
    samples = {s.name: s for s in get_dataset("middlebury", folder=str(tmp_path / "mb"))}
    assert samples["tsukuba"].disparity[0, 32] == pytest.approx(2.0)  # ÷ 16
    assert samples["venus"].disparity[0, 32] == pytest.approx(4.0)  # ÷ 8, read from a 24-bit BMP
    assert samples["cones"].disparity[0, 32] == pytest.approx(8.0)  # ÷ 4
    assert samples["art-third"].disparity[0, 30] == pytest.approx(10.0)  # third size: ÷ 3
    assert samples["art-half"].disparity[0, 30] == pytest.approx(15.0)  # half size: ÷ 2
    assert not samples["tsukuba"].valid[:, 0].any() and samples["tsukuba"].depth is None
    assert samples["cones"].nonoccluded[:, :30].sum() == 6 * 29 and not samples["cones"].nonoccluded[:, 30:].any()


def test_middlebury_missing_and_malformed_files_are_one_line(tmp_path):
    scene = tmp_path / "mb" / "Toy"
    middlebury_2014_scene(scene)
    (scene / "disp0.pfm").unlink()
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("middlebury", folder=str(tmp_path / "mb"))
    assert "ground truth missing" in _one_line(exc) and "disp0.pfm" in str(exc.value)
    write(scene / "disp0.pfm", pfm(np.ones((24, 40), np.float32))[:-8])
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("middlebury", folder=str(tmp_path / "mb"))[0]
    assert "cut short" in _one_line(exc)
    write(scene / "disp0.pfm", pfm(np.ones((24, 40), np.float32)))
    (scene / "calib.txt").write_text("cam0=[100 0 20; 0 100 12; 0 0 1]\n")
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("middlebury", folder=str(tmp_path / "mb"))[0]
    assert "calib.txt" in _one_line(exc)
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("middlebury", folder=str(tmp_path / "nowhere"))
    assert "not found" in _one_line(exc)


# ------------------------------------------------------------------------------------------ KITTI


def _kitti_depth_root(root):
    drive = "2011_09_26_drive_0002_sync"
    for frame in ("0000000069", "0000000070"):
        write(root / "2011_09_26" / drive / "image_02" / "data" / f"{frame}.png", png(rgb(6, 10)))
    depth = np.zeros((6, 10), np.uint16)
    depth[3:, :] = 3200  # 12.5 m
    write(root / "train" / drive / "proj_depth" / "groundtruth" / "image_02" / "0000000069.png", png(depth))
    write(root / "train" / drive / "proj_depth" / "velodyne_raw" / "image_02" / "0000000069.png",
          png(np.full((6, 10), 512, np.uint16)))
    (root / "eigen_test_files.txt").write_text(
        f"2011_09_26/{drive}/image_02/data/0000000069.png 2011_09_26/{drive}/image_03/data/0000000069.png\n"
        f"2011_09_26/{drive} 70 l\n")
    return root


def test_kitti_depth_list_annotated_first(tmp_path):
    root = _kitti_depth_root(tmp_path / "kitti")
    data = get_dataset("kitti-depth", folder=str(root))
    assert len(data) == 1 and data.layout == "annotated" and "1 listed frame(s) without a depth map" in data.notes[0]
    sample = data[0]
    assert sample.right is None and sample.depth[4, 2] == pytest.approx(12.5) and not sample.valid[:3].any()
    assert data.protocols[0] == "kitti-garg"
    (root / "2011_09_26" / "2011_09_26_drive_0002_sync" / "image_02" / "data" / "0000000070.png").unlink()
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("kitti-depth", folder=str(root))
    assert "0000000070" in _one_line(exc) and "line 2" in str(exc.value)


CALIB_2015 = ("P_rect_02: 7.215377e+02 0 6.095593e+02 4.485728e+01 0 7.215377e+02 1.728540e+02 2.163791e-01 0 0 1 "
              "2.745884e-03\nP_rect_03: 7.215377e+02 0 6.095593e+02 -3.395242e+02 0 7.215377e+02 1.728540e+02 "
              "2.199936e+00 0 0 1 2.729905e-03\n")


@pytest.mark.parametrize("year", ["2015", "2012"])
def test_kitti_stereo(tmp_path, year):
    root = tmp_path / "kitti" / "training"
    left, right, occ, noc, calib, keys = (("image_2", "image_3", "disp_occ_0", "disp_noc_0", "calib_cam_to_cam",
                                           ("P_rect_02", "P_rect_03")) if year == "2015" else
                                          ("colored_0", "colored_1", "disp_occ", "disp_noc", "calib", ("P2", "P3")))
    write(root / left / "000000_10.png", png(rgb(6, 10)))
    write(root / left / "000000_11.png", png(rgb(6, 10)))  # no ground truth for _11 frames
    write(root / right / "000000_10.png", png(rgb(6, 10, 1)))
    disparity = np.full((6, 10), 40 * 256, np.uint16)
    disparity[0] = 0
    write(root / occ / "000000_10.png", png(disparity))
    nonocc = disparity.copy()
    nonocc[:, :2] = 0
    write(root / noc / "000000_10.png", png(nonocc))
    text = CALIB_2015.replace("P_rect_02", keys[0]).replace("P_rect_03", keys[1])
    write(root / calib / "000000.txt", ("P0: 1 0 0 0 0 1 0 0 0 0 1 0\n" + text).encode())
    data = get_dataset("kitti-stereo", folder=str(tmp_path / "kitti"))
    assert len(data) == 1 and data.protocols[0] == f"kitti-{year}"
    sample = data[0]
    assert sample.disparity[3, 3] == 40.0 and not sample.valid[0].any() and not sample.nonoccluded[:, :2].any()
    baseline = (44.85728 + 339.5242) / 721.5377
    assert sample.calib.baseline_m == pytest.approx(baseline) and sample.calib.focal_px == pytest.approx(721.5377)
    assert sample.depth[3, 3] == pytest.approx(721.5377 * baseline / 40.0, rel=1e-5)


def test_kitti_stereo_bad_calibration_is_one_line(tmp_path):
    root = tmp_path / "training"
    write(root / "image_2" / "000000_10.png", png(rgb(6, 10)))
    write(root / "image_3" / "000000_10.png", png(rgb(6, 10)))
    write(root / "disp_occ_0" / "000000_10.png", png(np.full((6, 10), 256, np.uint16)))
    write(root / "calib_cam_to_cam" / "000000.txt", b"P_rect_02: 1 2 3\n")
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("kitti-stereo", folder=str(root))[0]
    assert "P_rect_02" in _one_line(exc)


# ------------------------------------------------------------------------------------------ NYU


def _nyu_mat(path, images, depths):
    """A MATLAB v7.3 file: HDF5 with a 512-byte user block opening with MATLAB's text header, each array stored
    with its axes reversed (MATLAB is column-major): images H×W×3×N → N×3×W×H, depths H×W×N → N×W×H."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.create_dataset("images", data=np.transpose(images, (3, 2, 1, 0)))
        handle.create_dataset("depths", data=np.transpose(depths, (2, 1, 0)))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116) + bytes(8) + b"\x00\x02IM")


def test_nyu_labeled_mat_with_test_split(tmp_path):
    pytest.importorskip("h5py", reason="NYU's labeled .mat (v7.3) is read with h5py")
    from scipy.io import savemat

    images = np.stack([rgb(6, 8, 0), rgb(6, 8, 1)], axis=3)  # H×W×3×N, MATLAB's order
    depths = np.stack([np.full((6, 8), 2.0), np.linspace(1, 9, 48).reshape(6, 8)], axis=2).astype(np.float32)
    _nyu_mat(tmp_path / "nyu_depth_v2_labeled.mat", images, depths)
    savemat(tmp_path / "splits.mat", {"testNdxs": np.array([[2]]), "trainNdxs": np.array([[1]])})
    data = get_dataset("nyu", folder=str(tmp_path))
    assert len(data) == 1 and data.protocols == ("nyu-eigen", "nyu-full")
    sample = data[0]
    assert np.array_equal(sample.left, images[..., 1]) and np.allclose(sample.depth, depths[..., 1])
    (tmp_path / "splits.mat").unlink()
    assert len(get_dataset("nyu", folder=str(tmp_path))) == 2
    write(tmp_path / "bad" / "nyu_depth_v2_labeled.mat", b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("nyu", folder=str(tmp_path / "bad"))
    assert "v7.3" in _one_line(exc)


def test_nyu_folder_export(tmp_path):
    write(tmp_path / "test" / "00001_colors.png", png(rgb(6, 8)))
    write(tmp_path / "test" / "00001_depth.png", png(np.full((6, 8), 2500, np.uint16)))
    [sample] = get_dataset("nyu", folder=str(tmp_path))
    assert sample.depth[0, 0] == pytest.approx(2.5) and sample.valid.all()
    write(tmp_path / "test" / "00002_depth.png", png(np.full((6, 8), 2500, np.uint16)))
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("nyu", folder=str(tmp_path))
    assert "00002_colors.png" in _one_line(exc)


# ------------------------------------------------------------------------------------------ TUM, DIODE


def test_tum_associates_by_timestamp(tmp_path):
    seq = tmp_path / "rgbd_dataset_freiburg1_xyz"
    (seq / "rgb").mkdir(parents=True)
    stamps_rgb, stamps_depth = ("1.000000", "1.050000", "1.100000"), ("1.010000", "1.090000", "1.300000")
    for stamp in stamps_rgb:
        write(seq / "rgb" / f"{stamp}.png", png(rgb(4, 6)))
    for stamp in stamps_depth:
        write(seq / "depth" / f"{stamp}.png", png(np.full((4, 6), 5000, np.uint16)))
    (seq / "rgb.txt").write_text("# color images\n" + "".join(f"{s} rgb/{s}.png\n" for s in stamps_rgb))
    (seq / "depth.txt").write_text("# depth maps\n" + "".join(f"{s} depth/{s}.png\n" for s in stamps_depth))
    data = get_dataset("tum", folder=str(tmp_path))
    assert [s.name for s in data] == ["rgbd_dataset_freiburg1_xyz/1.000000", "rgbd_dataset_freiburg1_xyz/1.100000"]
    assert data[0].depth[0, 0] == pytest.approx(1.0)
    (seq / "depth.txt").write_text("1.01 depth/1.010000.png\nnot-a-time depth/x.png\n")
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("tum", folder=str(tmp_path))
    assert "depth.txt:2" in _one_line(exc)


def test_diode(tmp_path):
    scan = tmp_path / "val" / "indoors" / "scene_00019" / "scan_00183"
    write(scan / "00019_00183_indoors_000_010.png", png(rgb(4, 6)))
    depth = np.full((4, 6, 1), 3.0, np.float32)
    mask = np.ones((4, 6), np.float32)
    mask[0] = 0
    np.save(scan / "00019_00183_indoors_000_010_depth.npy", depth)
    np.save(scan / "00019_00183_indoors_000_010_depth_mask.npy", mask)
    [sample] = get_dataset("diode", folder=str(tmp_path))
    assert not sample.valid[0].any() and sample.valid[1:].all() and sample.depth[2, 2] == 3.0
    (scan / "00019_00183_indoors_000_010_depth_mask.npy").unlink()
    with pytest.raises(BenchmarkError) as exc:
        get_dataset("diode", folder=str(tmp_path))
    assert "depth mask missing" in _one_line(exc)


def test_limit_takes_the_first_samples(tmp_path):
    for name in ("a", "b", "c"):
        middlebury_2014_scene(tmp_path / name)
    data = get_dataset("middlebury", folder=str(tmp_path), limit=2)
    assert [s.name for s in data] == ["a", "b"] and "first 2 of 3" in data.notes[-1]
