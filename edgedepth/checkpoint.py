"""Student checkpoints: safetensors with the model's recipe in its metadata, written atomically.

Pickles are never executed by default: safetensors is the format, and PyTorch `.pt` files (e.g. the official
MiDaS weights) load with `torch.load(weights_only=True)`, which refuses arbitrary objects. Only an explicit
`trust_pickle=True` (CLI `--trust-pickle`) allows a full unpickle.
"""

from __future__ import annotations

import json
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedepth.errors import EdgeDepthError
from edgedepth.version import __version__
from runtime.atomic import atomic_write_bytes
from runtime.bundle import sha256_file
from runtime.validate import Invalid as InvalidSetting

METADATA_KEY = "edgedepth"


@dataclass
class StudentInfo:
    """What a checkpoint says about the student it holds: enough to rebuild, feed and describe it."""

    config: dict[str, Any]
    input_size: tuple[int, int]
    mean: list[float]
    std: list[float]
    output_kind: str
    task: str = "mono"
    teacher: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    toolkit_version: str = __version__

    def to_json(self) -> str:
        data = dict(self.__dict__)
        data["input_size"] = list(self.input_size)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "student metadata") -> StudentInfo:
        """The metadata checked field by field (edgedepth.settings.STUDENT) before anything is built from it: a
        size, a width, a normalisation or a kind the command line would refuse is refused here too."""
        from edgedepth.settings import check_student
        from runtime.validate import parse_json

        data = check_student(parse_json(text, where, max_depth=24), where)
        data["input_size"] = tuple(data["input_size"])
        return cls(**data)


def save_student(path: Path, model: nn.Module, info: StudentInfo, force: bool = False) -> Path:
    """Write `model`'s weights and `info` to a safetensors file atomically; refuse to overwrite without force."""
    from safetensors.torch import save

    path = Path(path)
    if path.exists() and not force:
        raise EdgeDepthError(f"{path} already exists (use --force to overwrite)")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # Bytes through atomic_write_bytes: the file follows the umask like every other output (safetensors' own
    # writer creates it 0600).
    atomic_write_bytes(path, save(state, metadata={METADATA_KEY: info.to_json()}))
    return path


def read_state_dict(path: Path, trust_pickle: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read tensors (and safetensors metadata) from .safetensors or a PyTorch file; one-line errors on failure."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDepthError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                state = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as exc:  # safetensors raises several types for truncated/corrupt headers
            raise EdgeDepthError(f"corrupt checkpoint {path}: {str(exc).splitlines()[0]}") from exc
        return state, metadata
    obj = load_torch_file(path, trust_pickle)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgeDepthError(f"checkpoint {path} does not hold a state_dict of tensors")
    return obj, {}


def load_torch_file(path: Path, trust_pickle: bool = False) -> Any:
    """What a PyTorch file holds, loaded with `weights_only` (tensors, numbers, strings, containers) unless the
    user trusts the file; a refusal or a corrupt file is one line."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDepthError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if trust_pickle:
            raise EdgeDepthError(f"cannot unpickle checkpoint {path}: {str(exc).splitlines()[0][:200]}") from exc
        raise EdgeDepthError(f"refused to unpickle {path}: it holds Python objects besides tensors, and unpickling "
                             "them can run code; pass --trust-pickle (a teacher: --teacher-arg trust_pickle=true) "
                             "only for a file you trust") from exc
    except Exception as exc:
        raise EdgeDepthError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0][:200]}") from exc
    return obj


def _count(n: int, what: str) -> str:
    """'1 missing key' / '3 missing keys'."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def load_weights_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str, shown_prefix: str = "",
                        target: str | None = None) -> None:
    """Load `state` into `model` strictly; missing, unexpected, wrong-shape or float/int-mismatched keys become
    one line naming the first of each (keys shown with `shown_prefix`, the model as `target`)."""
    own = model.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    wrong_shape = [key for key in own if key in state and tuple(state[key].shape) != tuple(own[key].shape)]
    wrong_kind = [key for key in own if key in state and key not in wrong_shape
                  and state[key].dtype.is_floating_point != own[key].dtype.is_floating_point]
    problems = []
    if missing:
        problems.append(f"{_count(len(missing), 'missing key')}, first: {shown_prefix}{missing[0]}")
    if unexpected:
        problems.append(f"{_count(len(unexpected), 'unexpected key')}, first: {shown_prefix}{unexpected[0]}")
    if wrong_shape:
        key = wrong_shape[0]
        problems.append(f"{_count(len(wrong_shape), 'wrong shape')}, first: {shown_prefix}{key} is "
                        f"{tuple(state[key].shape)}, expected {tuple(own[key].shape)}")
    if wrong_kind:
        key = wrong_kind[0]
        problems.append(f"{_count(len(wrong_kind), 'wrong dtype')}, first: {shown_prefix}{key} is "
                        f"{state[key].dtype}, expected {own[key].dtype}")
    if problems:
        name = target or getattr(model, "config", {}).get("name", "the model")
        raise EdgeDepthError(f"{source} does not fit {name}: " + "; ".join(problems))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # not expected after the checks above; still one line
        raise EdgeDepthError(f"{source}: {str(exc).splitlines()[0]}") from exc


def load_student(path: Path) -> tuple[nn.Module, StudentInfo]:
    """Rebuild the student recorded in an edgedepth checkpoint and load its weights strictly (eval mode)."""
    from edgedepth.models import create_model

    state, metadata = read_state_dict(path)
    if METADATA_KEY not in metadata:
        raise EdgeDepthError(f"{path} is not an edgedepth student checkpoint (no '{METADATA_KEY}' metadata)")
    try:
        info = StudentInfo.from_json(metadata[METADATA_KEY], f"{path}: student metadata")
    except InvalidSetting as exc:
        raise EdgeDepthError(str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise EdgeDepthError(f"{path}: unreadable student metadata ({exc})") from exc
    config = dict(info.config)
    model = create_model(config.pop("name"), **config)
    from edgedepth.tasks import get_task

    task = get_task(info.task)
    task.check_student(model, str(path), info.input_size)  # a stereo network recorded as mono, and the reverse
    if task.output_kind is not None and info.output_kind != task.output_kind:
        raise EdgeDepthError(f"{path}: a {info.task} student predicts {task.output_kind}, the metadata says "
                             f"{info.output_kind}")
    load_weights_strict(model, state, str(path))
    return model.eval(), info


def init_weights(model: nn.Module, path: Path, trust_pickle: bool = False, source: str | None = None) -> None:
    """Load the weights in `path` (an official plain state_dict such as midas_v21_small_256.pt, or an edgedepth
    checkpoint of the same architecture) into `model` strictly: every key and shape must match, else one line
    naming `source` (default: the path) and the first bad key."""
    state, _ = read_state_dict(Path(path), trust_pickle=trust_pickle)
    load_weights_strict(model, state, source or str(path))


def checkpoint_sha256(path: Path) -> str:
    """sha256 of a checkpoint file, recorded in every bundle made from it."""
    return sha256_file(Path(path))
