"""Exporters by format name."""

from __future__ import annotations

from export.base import Exporter
from runtime.registry import Registry

# The exporters shipped with edgedepth (their modules register them; each imports its converter lazily).
EXPORTERS: Registry[type[Exporter]] = Registry("export format", key=lambda cls: cls.format, builtin=(
    "export.onnx",
    "export.coreml",
    "export.tflite",
    "export.openvino",
    "export.tensorrt",
))


def register_exporter(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator: make an exporter reachable by its `format`."""
    return EXPORTERS.register(cls)


def get_exporter(fmt: str) -> Exporter:
    """An exporter instance for `fmt`; one-line RequestError for an unknown format."""
    return EXPORTERS.get(fmt)()


def list_formats() -> list[str]:
    """Every registered format name."""
    return EXPORTERS.names()
