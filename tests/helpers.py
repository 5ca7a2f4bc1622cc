"""What several test modules build: seeded students, photo folders, a tiny hand-written ONNX model and its bundle,
a minimal manifest, tiny random-init Hugging Face models of every supported family, and the check of a bundle
derived by `edgedepth quantize`. Fixtures live in
conftest.py; these are plain functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from edgedepth.checkpoint import StudentInfo, save_student
from edgedepth.models import create_model
from runtime.bundle import load_bundle, write_manifest
from runtime.preprocess import resize_bilinear

SIZE = (64, 96)  # the input size of the session students
# Ops that would betray a non-portable stereo graph (data-dependent sampling or indexing, 3D convolutions).
STEREO_FORBIDDEN_OPS = {"gridsample", "grid_sample", "gather", "gatherelements", "gathernd", "scatternd", "conv3d",
                        "resample", "gather_along_axis", "gather_nd", "nonzero", "topk", "argmax", "range",
                        "range_1d"}
H, W = 8, 12
RNG = np.random.default_rng(42)
WEIGHT = RNG.normal(0, 0.5, size=(1, 3, 3, 3)).astype(np.float32)
BIAS = np.array([0.1], dtype=np.float32)


def make_student(path: Path, seed: int = 0, size: tuple[int, int] = SIZE, **model_kwargs) -> Path:
    """A seeded random-init `midas_small_lite0` checkpoint (weights' values do not matter for plumbing tests)."""
    torch.manual_seed(seed)
    model = create_model("midas_small_lite0", **model_kwargs)
    info = StudentInfo(config=dict(model.config), input_size=size, mean=list(model.input_mean),
                       std=list(model.input_std), output_kind=model.output_kind, teacher={"name": "sgbm"})
    return save_student(path, model, info)


def write_bad_checkpoint(path: Path, content) -> Path:
    """A checkpoint case for refusal tests: raw bytes written as they are, None for no file, else torch.save."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    return path


def write_photos(folder: Path, count: int = 8) -> Path:
    """`count` PNG photos (procedural scenes' left views, two sizes) in nested folders, plus a non-image file."""
    import cv2

    from edgedepth.data import get_dataset

    for i, sample in enumerate(get_dataset("procedural", n=count, seed=7, height=96, width=128)):
        image = sample.left if i % 2 else cv2.resize(sample.left, (160, 120))
        target = folder / ("sub" if i >= count // 2 else "") / f"img{i}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image")
    return folder


def tiny_onnx_model(input_name="image") -> onnx.ModelProto:
    """image [1,3,H,W] → Conv 3×3 pad 1 → Relu → Resize ×2 (linear, half_pixel) → Squeeze → depth [1,2H,2W]."""
    nodes = [
        helper.make_node("Conv", [input_name, "w", "b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("Resize", ["relu", "", "scales"], ["up"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Squeeze", ["up", "axes"], ["depth"]),
    ]
    inits = [numpy_helper.from_array(WEIGHT, "w"), numpy_helper.from_array(BIAS, "b"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, H, W])]
    outputs = [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 2 * H, 2 * W])]
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def numpy_reference(x: np.ndarray) -> np.ndarray:
    """What the tiny model computes, written out in numpy."""
    padded = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
    conv = np.full((H, W), BIAS[0], dtype=np.float64)
    for c in range(3):
        for dy in range(3):
            for dx in range(3):
                conv += WEIGHT[0, c, dy, dx] * padded[c, dy:dy + H, dx:dx + W]
    return resize_bilinear(np.maximum(conv, 0).astype(np.float32), 2 * H, 2 * W)[None]


def make_onnx_bundle(root, name="tiny-onnx", input_name="image", manifest_input="image"):
    """A sealed bundle directory holding the tiny model."""
    root.mkdir(parents=True)
    onnx.save(tiny_onnx_model(input_name), str(root / "model.onnx"))
    manifest = {
        "name": name, "task": "mono", "format": "onnx", "precision": "fp32",
        "inputs": [{"name": manifest_input, "shape": [1, 3, H, W], "dtype": "float32", "layout": "NCHW",
                    "color": "RGB", "normalization": {"mean": [0.485, 0.456, 0.406],
                                                      "std": [0.229, 0.224, 0.225], "scale": 1 / 255}}],
        "outputs": [{"name": "depth", "shape": [1, 2 * H, 2 * W], "dtype": "float32",
                     "kind": "relative_inverse_depth"}],
        "source": {"model": "tiny", "teacher": {"name": "none"}, "checkpoint_sha256": None,
                   "calibration_sha256": None, "toolkit_version": "test"},
    }
    write_manifest(root, manifest)
    return load_bundle(root)


def minimal_manifest(name="tiny", fmt="onnx", **extra):
    """A Contract-1 manifest with every required field (files are filled by write_manifest)."""
    return {
        "name": name, "task": "mono", "format": fmt, "precision": "fp32",
        "inputs": [{"name": "image", "shape": [1, 3, 8, 8], "dtype": "float32", "layout": "NCHW",
                    "normalization": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "scale": 1 / 255}}],
        "outputs": [{"name": "depth", "shape": [1, 8, 8], "dtype": "float32",
                     "kind": "relative_inverse_depth"}],
        "source": {"model": "tiny", "teacher": {"name": "none"}, "checkpoint_sha256": "0" * 64,
                   "calibration_sha256": None, "toolkit_version": "0.0.0"},
        **extra,
    }


def tiny_depth_anything(seed: int, layers: int, taps: list[int], **kwargs):
    """A Depth Anything with a 32-wide DINOv2 backbone (patch 14) and a 16-channel fusion."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                            patch_size=14, image_size=56, out_indices=taps, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
                                 fusion_hidden_size=16, head_hidden_size=8, **kwargs)
    return DepthAnythingForDepthEstimation(config)


def tiny_beit():
    from transformers import BeitConfig

    return BeitConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
                      patch_size=16, use_relative_position_bias=True, reshape_hidden_states=False,
                      out_features=["stage1", "stage2", "stage3", "stage4"])


def tiny_models() -> dict:
    """Name → untrained model of each supported family and backbone."""
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation, ZoeDepthConfig, ZoeDepthForDepthEstimation

    models = {
        "da_v1": tiny_depth_anything(0, 8, [5, 6, 7, 8]),
        "da_v2": tiny_depth_anything(1, 8, [2, 4, 6, 8]),
        "da_metric": tiny_depth_anything(2, 4, [1, 2, 3, 4], depth_estimation_type="metric", max_depth=20),
    }
    torch.manual_seed(3)
    head = {"neck_hidden_sizes": [8, 16, 32, 32], "fusion_hidden_size": 16, "use_auxiliary_head": False}
    vit = {"hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64,
           "image_size": 64, "patch_size": 16, "backbone_out_indices": [0, 1, 2, 3]}
    models["dpt"] = DPTForDepthEstimation(DPTConfig(**vit, **head))
    models["dpt_beit"] = DPTForDepthEstimation(DPTConfig(backbone_config=tiny_beit(), hidden_size=32, **head))
    bit = BitConfig(global_padding="same", layer_type="bottleneck", depths=[1, 1, 1], hidden_sizes=[16, 32, 64],
                    embedding_size=8, num_groups=4, out_features=["stage1", "stage2", "stage3"],
                    embedding_dynamic_padding=True)
    models["dpt_hybrid"] = DPTForDepthEstimation(DPTConfig(
        is_hybrid=True, backbone_config=bit, backbone_featmap_shape=[1, 64, 4, 4], **vit,
        **{**head, "neck_hidden_sizes": [16, 32, 32, 32]}))
    models["zoedepth"] = ZoeDepthForDepthEstimation(ZoeDepthConfig(
        backbone_config=tiny_beit(), neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        bottleneck_features=16, num_relative_features=8, bin_embedding_dim=16, num_attractors=[4, 2, 2, 1],
        bin_configurations=[{"n_bins": 8, "min_depth": 0.001, "max_depth": 10.0}]))
    return models


def bundle_outputs(bundle, inputs):
    """The bundle's first output for each input, through its runner (one thread)."""
    from runtime.runners.registry import runner_for_format

    with runner_for_format(bundle.format)() as runner:
        runner.load(bundle, 1)
        return np.stack([runner.infer({bundle.inputs[0]["name"]: x})[bundle.outputs[0]["name"]] for x in inputs])


def check_derived(derived, fp32, precision, method_prefix):
    """A bundle derived by `edgedepth quantize`: named like export names it, its method, source and calibration
    recorded, the fp32 manifest's I/O kept, and outputs that track the fp32 bundle's."""
    from runtime.metrics import agreement

    m = derived.manifest
    assert (m["name"], m["format"], m["precision"]) == (f"{fp32.format}-{precision}", fp32.format, precision)
    assert m["quantization"]["method"].startswith(method_prefix)
    assert m["quantization"]["from"] == {"name": fp32.name, "sha256": fp32.manifest["files"][fp32.model_path.name]}
    assert m["quantization"]["calibration_samples"] == 4 and len(m["source"]["calibration_sha256"]) == 64
    assert m["inputs"] == fp32.manifest["inputs"] and m["outputs"] == fp32.manifest["outputs"]
    assert "checks" not in m  # the fp32 bundle's checks do not describe this model
    # its own parity: run on its backend beside the fp32 bundle before it was kept
    assert m["parity"]["vs"] == "fp32-bundle" and m["parity"]["inputs_from"] == "calibration", m["parity"]
    assert m["parity"]["backend"] and np.isfinite(float(m["parity"]["psnr_db"])), m["parity"]
    rng = np.random.default_rng(5)
    inputs = [np.clip(rng.normal(size=fp32.inputs[0]["shape"]), -2, 2).astype(np.float32) for _ in range(2)]
    stats = agreement(bundle_outputs(fp32, inputs), bundle_outputs(derived, inputs))
    assert np.isfinite(stats["psnr_db"]) and stats["psnr_db"] > 15, stats  # runs, and tracks the fp32 model


def official_midas_checkpoint(path: Path, seed: int = 0) -> tuple[Path, dict]:
    """A seeded random-init MiDaS v2.1 small checkpoint in the official layout (a plain state dict)."""
    from edgedepth.originals.official_files import midas_v21_small_file

    return midas_v21_small_file(path, seed)


def official_monodepth2_folder(root: Path, depth: int = 18, use_stereo: bool = False, seed: int = 0,
                               size: tuple[int, int] = (64, 96)) -> Path:
    """encoder.pth and depth.pth as the official trainer saves them, from a random-init model."""
    from edgedepth.originals.official_files import monodepth2_folder

    return monodepth2_folder(root, depth, use_stereo, seed, size)
