"""Exporters by format name."""

from __future__ import annotations

from export.base import Exporter

_EXPORTERS: dict[str, type[Exporter]] = {}


def register_exporter(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator: make an exporter reachable by its `format`."""
    _EXPORTERS[cls.format] = cls
    return cls


def get_exporter(fmt: str) -> Exporter:
    """An exporter instance for `fmt`; one-line ValueError for an unknown format."""
    _load_builtin()
    if fmt not in _EXPORTERS:
        raise ValueError(f"unknown export format '{fmt}' (known: {', '.join(sorted(_EXPORTERS))})")
    return _EXPORTERS[fmt]()


def list_formats() -> list[str]:
    """Every registered format name."""
    _load_builtin()
    return sorted(_EXPORTERS)


def _load_builtin() -> None:
    import export.onnx  # noqa: F401  (registers itself)
