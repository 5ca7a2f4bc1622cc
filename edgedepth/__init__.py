"""edgedepth: distill, quantize and export depth models to edge devices, and verify what survived."""

from edgedepth.version import __version__

__all__ = ["__version__"]
