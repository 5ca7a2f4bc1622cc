"""Hugging Face depth models as mono teachers, loaded offline from a folder or the local Hugging Face cache.

Families, told apart by config.json: Depth Anything V1/V2 (relative inverse depth, or metric depth when
`depth_estimation_type` is "metric"), DPT / MiDaS v3.x (ViT, hybrid, BEiT, Swin V2 backbones; relative inverse
depth) and ZoeDepth (metric depth). Preprocessing follows each family's reference pipeline, in torch:

- depth_anything: keep the aspect ratio with both sides ≥ 518 ("lower_bound"), multiples of 14, bicubic,
  ImageNet mean/std (the Depth Anything V1/V2 repositories' `Resize`).
- dpt: mean = std = 0.5, bicubic. Backbone models (BEiT, DINOv2) keep the aspect ratio with MiDaS's "minimal"
  rule (scale as little as possible) toward the backbone's image_size (384, or 512 for BEiT-512), multiples of
  32. ViT and hybrid models get a square image_size × image_size input: transformers' DPT ViT neck rebuilds a
  square token grid and its hybrid embeddings take only image_size; Swin V2 ones are square in MiDaS too.
- zoedepth: reflect-pad by int(√(h/2)·3) rows and int(√(w/2)·3) columns, "minimal" resize toward 384×512 to
  multiples of 32, bilinear with align_corners, mean = std = 0.5; the prediction is resized (bicubic) to the
  padded size and the padding cropped, as transformers' `post_process_depth_estimation` does.

A preprocessor_config.json next to the weights overrides the size, mean, std and (when above 1) the multiple;
the `size` keyword overrides both. Pickled weights (pytorch_model.bin) load only with `trust_pickle=True`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgedepth.data.sample import StereoSample
from edgedepth.errors import EdgeDepthError
from edgedepth.models.midas_small import IMAGENET_MEAN, IMAGENET_STD
from edgedepth.teachers.base import MONO_KINDS, Prediction, Teacher, dense_prediction
from edgedepth.teachers.registry import TeacherConfigError
from edgedepth.threads import torch_threads
from runtime.bundle import METRIC, RELATIVE
from runtime.errors import first_line

MODEL_CLASSES = {
    "depth_anything": "DepthAnythingForDepthEstimation",
    "dpt": "DPTForDepthEstimation",
    "zoedepth": "ZoeDepthForDepthEstimation",
}
ACCEPTED = ("a Depth Anything (V1/V2), DPT / MiDaS v3.x or ZoeDepth depth-estimation model "
            "(config.json model_type depth_anything, dpt or zoedepth)")
HALF = (0.5, 0.5, 0.5)
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def _transformers() -> Any:
    """The transformers module, or a one-line install hint where it is missing."""
    try:
        import transformers
    except ImportError:
        raise EdgeDepthError('Hugging Face teachers need transformers: pip install "edgedepth[hf]"') from None
    return transformers


def resolve_folder(path: str) -> Path:
    """The model folder `path` names: a local folder, or a repo id's snapshot in the local Hugging Face cache
    (never downloaded)."""
    folder = Path(path).expanduser()
    if folder.is_dir():
        return folder
    if folder.exists():
        raise EdgeDepthError(f"hf:{path} is a file; expected a folder with config.json and weights, or a repo id "
                             "in the local Hugging Face cache")
    if _REPO_ID.fullmatch(path):
        _transformers()
        from huggingface_hub import constants, try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(path, "config.json")
        except Exception as exc:
            raise EdgeDepthError(f"hf:{path}: not a usable repo id ({first_line(exc)})") from None
        if isinstance(cached, str):
            return Path(cached).parent
        raise EdgeDepthError(f"hf:{path}: no such folder, and no snapshot of {path!r} with a config.json in the "
                             f"local Hugging Face cache ({constants.HF_HUB_CACHE}); nothing is downloaded")
    raise EdgeDepthError(f"hf:{path}: no such folder (expected a folder with config.json and weights, or a repo "
                         "id in the local Hugging Face cache)")


def read_config(folder: Path, path: str) -> dict[str, Any]:
    """The folder's config.json as a dict; one line if it is missing or unreadable."""
    file = folder / "config.json"
    if not file.is_file():
        raise EdgeDepthError(f"hf:{path}: no config.json in {folder}; expected {ACCEPTED}")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EdgeDepthError(f"hf:{path}: cannot read {file}: {first_line(exc)}") from None
    if not isinstance(config, dict):
        raise EdgeDepthError(f"hf:{path}: {file} is not a JSON object")
    return config


def detect_family(config: dict[str, Any], path: str) -> str:
    """The family (depth_anything, dpt or zoedepth) from config.json's model_type or architectures; else one line."""
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    if model_type not in MODEL_CLASSES:
        by_class = {cls: family for family, cls in MODEL_CLASSES.items()}
        model_type = next((by_class[a] for a in architectures if a in by_class), model_type)
    if model_type not in MODEL_CLASSES:
        found = config.get("model_type") or "no model_type"
        raise EdgeDepthError(f"hf:{path}: config.json describes {found!r}; expected {ACCEPTED}")
    if architectures and not any(str(a).endswith("ForDepthEstimation") for a in architectures):
        raise EdgeDepthError(f"hf:{path}: config.json's architectures {architectures} hold no depth-estimation "
                             f"head; expected {ACCEPTED}")
    return model_type


def find_weight_files(folder: Path, path: str, trust_pickle: bool) -> tuple[list[Path], bool]:
    """The weight files to load, sorted by name, and whether they are safetensors; pickles need trust_pickle."""
    safetensors = sorted(folder.glob("*.safetensors"))
    if safetensors:
        return safetensors, True
    pickles = sorted(folder.glob("pytorch_model*.bin"))
    if pickles and not trust_pickle:
        raise EdgeDepthError(f"hf:{path}: only pickled weights ({pickles[0].name}); refusing to unpickle without "
                             "trust_pickle=True (or convert them to safetensors)")
    if pickles:
        return pickles, False
    raise EdgeDepthError(f"hf:{path}: no weights in {folder} (expected model.safetensors)")


def sha256_of_files(files: list[Path]) -> str:
    """sha256 over the weight files' bytes in the given (name) order: a cache key for the teacher's outputs."""
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def _constrain(value: float, multiple: int, min_value: int = 0) -> int:
    """The nearest multiple of `multiple` (rounded up when below `min_value`), never less than one multiple."""
    result = round(value / multiple) * multiple
    if result < min_value:
        result = math.ceil(value / multiple) * multiple
    return max(int(result), multiple)


def target_size(height: int, width: int, target_height: int, target_width: int, multiple: int,
                method: str) -> tuple[int, int]:
    """Network input (height, width) for an image, by MiDaS's `Resize` rules: "lower_bound" (aspect kept, both
    sides ≥ target), "minimal" (aspect kept, scaled as little as possible) or "stretch" (the target itself)."""
    scale_h, scale_w = target_height / height, target_width / width
    if method == "lower_bound":
        scale_h = scale_w = max(scale_h, scale_w)
        return (_constrain(scale_h * height, multiple, target_height),
                _constrain(scale_w * width, multiple, target_width))
    if method == "minimal":
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h
    elif method != "stretch":
        raise ValueError(f"unknown resize method {method!r}")
    return _constrain(scale_h * height, multiple), _constrain(scale_w * width, multiple)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the network's input: target size, resize rule, multiple, interpolation, mean/std,
    and ZoeDepth's reflect padding."""

    height: int
    width: int
    resize: str
    multiple: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    zoedepth_pad: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the identity."""
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data


def _processor_overrides(folder: Path, path: str) -> dict[str, Any]:
    """Size, mean, std and multiple from a preprocessor_config.json beside the weights, where it states them."""
    file = folder / "preprocessor_config.json"
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise EdgeDepthError(f"hf:{path}: cannot read {file}: {first_line(exc)}") from None
    found: dict[str, Any] = {}
    size = data.get("size")
    if isinstance(size, int) and size > 0:
        found["size"] = (size, size)
    elif isinstance(size, dict) and all(isinstance(size.get(k), int) and size[k] > 0 for k in ("height", "width")):
        found["size"] = (size["height"], size["width"])
    for key, name in (("image_mean", "mean"), ("image_std", "std")):
        values = data.get(key)
        if isinstance(values, list) and len(values) == 3 and all(isinstance(v, (int, float)) for v in values):
            found[name] = tuple(float(v) for v in values)
    multiple = data.get("ensure_multiple_of")
    if isinstance(multiple, int) and multiple > 1:
        found["multiple"] = multiple
    return found


def _pair(value: Any) -> tuple[int, int]:
    """(height, width) from an int or an [height, width] pair (config image sizes come in both forms)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def preprocessing(family: str, config: dict[str, Any], folder: Path, path: str,
                  size: tuple[int, int] | None) -> Preprocess:
    """The family's reference preprocessing, with preprocessor_config.json's numbers and then `size` on top."""
    if family == "depth_anything":
        base = Preprocess(518, 518, "lower_bound", int(config.get("patch_size") or 14), "bicubic",
                          IMAGENET_MEAN, IMAGENET_STD)
    elif family == "zoedepth":
        base = Preprocess(384, 512, "minimal", 32, "bilinear_align_corners", HALF, HALF, zoedepth_pad=True)
    elif config.get("is_hybrid"):
        base = Preprocess(*_pair(config.get("image_size") or 384), "stretch", 1, "bicubic", HALF, HALF)
        if size is not None and size != (base.height, base.width):
            raise TeacherConfigError(f"hf:{path}: a DPT-Hybrid model takes only its image_size "
                                     f"{base.height}×{base.width} (got size {list(size)})")
        size = (base.height, base.width)
    elif not config.get("backbone_config"):
        base = Preprocess(*_pair(config.get("image_size") or 384), "stretch", 32, "bicubic", HALF, HALF)
    else:
        backbone = config["backbone_config"]
        method = "stretch" if backbone.get("model_type") == "swinv2" else "minimal"
        multiple = 14 if backbone.get("patch_size") == 14 else 32
        base = Preprocess(*_pair(backbone.get("image_size") or 384), method, multiple, "bicubic", HALF, HALF)
    found = _processor_overrides(folder, path)
    height, width = size or found.get("size") or (base.height, base.width)
    return Preprocess(height, width, base.resize, found.get("multiple", base.multiple), base.interpolation,
                      found.get("mean", base.mean), found.get("std", base.std), base.zoedepth_pad)


def _size_pair(size: int | list[int] | tuple[int, int] | None) -> tuple[int, int] | None:
    """`size` as (height, width): an int is square; one line when it is not one or two positive ints."""
    if size is None:
        return None
    pair = [size, size] if isinstance(size, int) and not isinstance(size, bool) else size
    if (not isinstance(pair, (list, tuple)) or len(pair) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)):
        raise TeacherConfigError(f"hf: size must be a positive int or [height, width], got {size!r}")
    return int(pair[0]), int(pair[1])


class HFDepthTeacher(Teacher):
    """A transformers depth model (Depth Anything V1/V2, DPT / MiDaS v3.x, ZoeDepth) as a mono teacher, on CPU
    in float32, loaded only from local files.

    `path` is a model folder or a repo id already in the local Hugging Face cache. `size` overrides the
    family's base input size (an int, or [height, width]); `kind` overrides the family's output kind (for
    fine-tunes that predict metric depth); `trust_pickle=True` allows pickled pytorch_model.bin weights.
    """

    name = "hf"
    backend = "transformers"

    def __init__(
        self,
        path: str,
        threads: int | None = None,
        size: int | list[int] | None = None,
        trust_pickle: bool = False,
        kind: str | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise TeacherConfigError(f"hf: threads must be at least 1, got {threads}")
        if kind is not None and kind not in MONO_KINDS:
            raise TeacherConfigError(f"hf: kind must be one of {', '.join(MONO_KINDS)}, got {kind!r}")
        self.path = str(path)
        self.threads = threads
        self.size = list(size) if isinstance(size, (list, tuple)) else size
        self.trust_pickle = bool(trust_pickle)
        self.kind_override = kind
        pair = _size_pair(size)

        transformers = _transformers()
        self.folder = resolve_folder(self.path)
        config = read_config(self.folder, self.path)
        self.family = detect_family(config, self.path)
        self.model_type = str(config.get("model_type", self.family))
        self.weight_files, safetensors = find_weight_files(self.folder, self.path, self.trust_pickle)
        self.preprocess = preprocessing(self.family, config, self.folder, self.path, pair)
        metric = self.family == "zoedepth" or config.get("depth_estimation_type") == "metric"
        self.kind = kind or (METRIC if metric else RELATIVE)
        self.transformers_version = str(transformers.__version__)

        class_name = MODEL_CLASSES[self.family]
        try:
            model_class = getattr(transformers, class_name)
            model, info = model_class.from_pretrained(
                str(self.folder), local_files_only=True, use_safetensors=safetensors, dtype=torch.float32,
                output_loading_info=True)
        except Exception as exc:
            raise EdgeDepthError(f"hf:{self.path}: cannot load it as {class_name}: {first_line(exc)}") from exc
        missing = sorted(info.get("missing_keys") or ())
        if missing:
            raise EdgeDepthError(f"hf:{self.path}: the weights lack {len(missing)} of the model's tensors (e.g. "
                                 f"{missing[0]}); refusing a partly random teacher")
        self.model = model.eval()

    def params(self) -> dict[str, Any]:
        """Constructor keywords: `create_teacher("hf", **params)` rebuilds this teacher."""
        return {"path": self.path, "threads": self.threads, "size": self.size, "trust_pickle": self.trust_pickle,
                "kind": self.kind_override}

    @cached_property
    def weights_sha256(self) -> str:
        """sha256 over the weight files' bytes, sorted by name (computed once, on first use)."""
        return sha256_of_files(self.weight_files)

    def identity(self) -> dict[str, Any]:
        """Name, family, kind, the parameters that shape the output, the resolved preprocessing, the weights'
        sha256 and the transformers version."""
        identity = super().identity()
        identity["params"] = {k: v for k, v in identity["params"].items() if k != "threads"}
        return {**identity, "family": self.family, "model_type": self.model_type,
                "preprocess": self.preprocess.as_dict(), "weights_sha256": self.weights_sha256,
                "transformers": self.transformers_version}

    def network_input(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """The normalised 1×3×h×w input for a uint8 RGB image, and the (rows, columns) of padding per side."""
        p = self.preprocess
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0
        pad = (0, 0)
        if p.zoedepth_pad:
            height, width = pixels.shape[-2:]
            pad = (min(int(math.sqrt(height / 2) * 3), height - 1), min(int(math.sqrt(width / 2) * 3), width - 1))
            pixels = F.pad(pixels, (pad[1], pad[1], pad[0], pad[0]), mode="reflect")
        size = target_size(*pixels.shape[-2:], p.height, p.width, p.multiple, p.resize)
        if p.interpolation == "bilinear_align_corners":
            pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=True)
        else:
            # Antialiased when shrinking, as the transformers image processors' PIL resize is: a 1024-px photo
            # brought to 384 without it aliases fine texture into the teacher's input.
            pixels = F.interpolate(pixels, size=size, mode="bicubic", align_corners=False, antialias=True)
        mean = torch.tensor(p.mean).view(1, 3, 1, 1)
        std = torch.tensor(p.std).view(1, 3, 1, 1)
        return (pixels - mean) / std, pad

    def predict(self, sample: StereoSample) -> Prediction:
        """The model's map for the sample's left view at its resolution (0 where invalid)."""
        height, width = sample.left.shape[:2]
        with torch_threads(self.threads), torch.inference_mode():
            pixels, (pad_h, pad_w) = self.network_input(sample.left)
            depth = self.model(pixel_values=pixels).predicted_depth
            depth = depth.reshape(1, 1, *depth.shape[-2:]).float()
            depth = F.interpolate(depth, size=(height + 2 * pad_h, width + 2 * pad_w), mode="bicubic",
                                  align_corners=False)
            depth = depth[0, 0, pad_h:pad_h + height, pad_w:pad_w + width]
        return dense_prediction(depth.numpy(), self.kind, height, width)
