"""Resumable training state: what a distillation needs to continue exactly where it stopped.

One safetensors file `state.safetensors` in `<out>.state/`, written atomically (temporary file, fsync, rename):
the model's and the optimizer's tensors and torch's RNG state as tensors, and in its JSON metadata the step
reached, the numpy generator's and Python's `random` states, the optimizer's scalar settings, the losses so far
and the configuration it belongs to. Nothing is unpickled on reading. A run killed at any moment leaves the last
complete state (or none), so it loses at most one `checkpoint_every` interval.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedepth.distill.config import RUN_CONTROL_FIELDS
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.version import __version__
from runtime.atomic import atomic_write_bytes

STATE_FILE = "state.safetensors"
METADATA_KEY = "edgedepth_training_state"


def state_dir(out_path: str | Path) -> Path:
    """Where the resumable state of the run writing `out_path` lives: `<out>.state/` beside it."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".state")


def fingerprint(config: Any) -> dict[str, Any]:
    """The config fields a resumed run must share with the one that wrote the state (all but run controls),
    as JSON would give them back."""
    fields = {k: v for k, v in asdict(config).items() if k not in RUN_CONTROL_FIELDS}
    return json.loads(json.dumps(fields, default=str))


@dataclass
class Snapshot:
    """A training state read back: the next step (0-based) and what the loop continues with."""

    step: int
    losses: list[float]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingState:
    """A run's state file: where it lives, how often the loop writes it and whether the run starts from it."""

    directory: Path
    config: dict[str, Any]  # the fingerprint of the run's config
    every: int = 0
    resume: bool = False
    # The fingerprint of the config class's defaults: a field added after a state was written counts, in that
    # state, as holding its default (a newer edgedepth resumes an older state unless the field was changed).
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.directory / STATE_FILE

    def due(self, done: int, total: int) -> bool:
        """Whether to write the state after `done` of `total` steps (never after the last: the checkpoint is)."""
        return self.every > 0 and done % self.every == 0 and done < total

    def save(self, done: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, rng: np.random.Generator,
             losses: list[float], seconds: float, extra: dict[str, Any] | None = None) -> Path:
        """Write the state after `done` steps atomically; the previous state stays readable until the rename."""
        from safetensors.torch import save

        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        optim = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, entry in optim["state"].items():
            for name, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(index), {})[name] = value
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng.cuda.{i}"] = cuda_state
        python_state = random.getstate()
        meta = {"version": __version__, "step": done, "config": self.config, "losses": losses,
                "seconds": seconds, "numpy": rng.bit_generator.state,
                "python": [python_state[0], list(python_state[1]), python_state[2]],
                "param_groups": optim["param_groups"], "optim_scalars": scalars, "extra": extra or {}}
        atomic_write_bytes(self.path, save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))
        return self.path

    def load(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             rng: np.random.Generator) -> Snapshot | None:
        """Put the stored state into `model`, `optimizer`, `rng` and the global RNGs; None when there is none.
        A state from another configuration, or an unreadable one, is a one-line error."""
        if not self.path.is_file():
            return None
        tensors, meta = _read(self.path)
        self._check(meta)
        model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(model_state, strict=True)
        optimizer.load_state_dict(_optimizer_state(tensors, meta))
        _match_layouts(optimizer)
        torch.set_rng_state(tensors["rng.torch"])
        cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
        rng.bit_generator.state = meta["numpy"]
        version, internal, gauss = meta["python"]
        random.setstate((version, tuple(internal), gauss))
        return Snapshot(int(meta["step"]), [float(v) for v in meta["losses"]], float(meta["seconds"]),
                        meta.get("extra", {}))

    def check(self) -> None:
        """Before any work: a state to resume that belongs to another configuration is a one-line error."""
        if self.resume and self.path.is_file():
            self._check(_read(self.path, tensors=False)[1])

    def _check(self, meta: dict[str, Any]) -> None:
        stored = {**{k: v for k, v in self.defaults.items() if k in self.config}, **meta.get("config", {})}
        for key, value in stored.items():  # a nested field added later (an augmentation) holds its default too
            if isinstance(value, dict) and isinstance(self.defaults.get(key), dict):
                stored[key] = {**self.defaults[key], **value}
        if stored != self.config:
            changed = sorted(k for k in set(self.config) | set(stored) if self.config.get(k) != stored.get(k))
            raise ConfigError(f"the training state in {self.directory} belongs to another configuration ("
                              f"{', '.join(changed)} differ); give the same settings, or drop --resume and "
                              "delete it to start afresh")

    def clear(self) -> None:
        """Remove the state (after the final checkpoint is written: nothing is left to resume)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _read(path: Path, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state file's tensors (unless not wanted) and its metadata, or a one-line error for a damaged file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})[METADATA_KEY])
            stored = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}
    except Exception as exc:  # safetensors raises several types for damaged files
        raise EdgeDepthError(f"unreadable training state {path}: {str(exc).splitlines()[0] if str(exc) else exc!r}; "
                             "delete it to start afresh") from exc
    return stored, meta


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's state_dict rebuilt from the flattened tensors and scalars."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, scalars in meta["optim_scalars"].items():
        state.setdefault(int(index), {}).update(scalars)
    groups = [{**group, "betas": tuple(group["betas"])} if "betas" in group else group
              for group in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor its parameter's memory layout (channels_last weights): fused
    kernels walk a parameter and its moments in step."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            entry = optimizer.state.get(param, {})
            for name, value in list(entry.items()):
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    entry[name] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def start_run(config: Any, out_path: str | Path) -> TrainingState:
    """What every distillation does before its work: its training state (one that belongs to another
    configuration refused in one line, before any work), its thread count (capped by EDGEDEPTH_MAX_THREADS) and
    torch's seed."""
    from runtime.threads import capped_threads

    state = TrainingState(state_dir(out_path), fingerprint(config), config.checkpoint_every, config.resume,
                          fingerprint(type(config)()))
    state.check()
    torch.set_num_threads(capped_threads(config.threads))
    torch.manual_seed(config.seed)
    return state
