"""Exporters by format name."""

from __future__ import annotations

import importlib

from export.base import Exporter
from runtime.errors import RequestError

_EXPORTERS: dict[str, type[Exporter]] = {}


def register_exporter(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator: make an exporter reachable by its `format`."""
    _EXPORTERS[cls.format] = cls
    return cls


def get_exporter(fmt: str) -> Exporter:
    """An exporter instance for `fmt`; one-line RequestError for an unknown format."""
    _load_builtin()
    if fmt not in _EXPORTERS:
        raise RequestError(f"unknown export format '{fmt}' (known: {', '.join(sorted(_EXPORTERS))})")
    return _EXPORTERS[fmt]()


def list_formats() -> list[str]:
    """Every registered format name."""
    _load_builtin()
    return sorted(_EXPORTERS)


# Modules that register the exporters shipped with edgedepth (one per line); each imports its converter lazily.
# Named, not imported: each imports this registry to register itself, so importing them here when this module
# loads would be a file cycle; they are imported on the first lookup instead.
_BUILTIN_MODULES = (
    "export.onnx",
    "export.coreml",
    "export.tflite",
    "export.openvino",
    "export.tensorrt",
)


def _load_builtin() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
