"""Models built by name: a registry of factory functions, and `create_model` that records how to rebuild."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from edgedepth.errors import ConfigError
from runtime.registry import Registry

F = TypeVar("F", bound=Callable[..., nn.Module])


class ModelConfigError(ConfigError):
    """An unknown model name or a keyword the model does not take (one line, listing what would work)."""


MODELS: Registry[Callable[..., nn.Module]] = Registry("model", key=lambda fn: fn.__name__, error=ModelConfigError)


def register_model(fn: F) -> F:
    """Register a model factory under its function name, so `create_model(name)` can build it."""
    return MODELS.register(fn)


def list_models() -> list[str]:
    """Names `create_model` accepts, sorted."""
    return MODELS.names()


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model; `model.config` holds its name and every keyword needed to rebuild it."""
    fn = MODELS.get(name)
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(**kwargs)
    except TypeError as exc:
        raise ModelConfigError(
            f"{name}: {exc}; it takes {', '.join(signature.parameters) or 'no keywords'}"
        ) from None
    bound.apply_defaults()
    config = {"name": name, **bound.arguments}
    try:
        json.dumps(config)
    except TypeError as exc:
        raise ModelConfigError(f"{name}: keywords must be JSON-serialisable to be recorded ({exc})") from None
    try:
        model = fn(**bound.arguments)
    except ValueError as exc:  # the constructor's check of a keyword's value
        raise ModelConfigError(f"{name}: {str(exc).splitlines()[0]}") from exc
    model.config = config
    return model
