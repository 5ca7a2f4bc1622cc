"""The standard depth and stereo benchmarks, read from the folders users download (nothing here downloads):
one module per layout, each registered in the dataset registry under the benchmark's name with the protocols
(`runtime.protocols`) that score it, the default first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgedepth.data.benchmarks.diode import read_diode
from edgedepth.data.benchmarks.eth3d import read_eth3d
from edgedepth.data.benchmarks.files import Benchmark, BenchmarkError
from edgedepth.data.benchmarks.kitti_depth import read_kitti_depth
from edgedepth.data.benchmarks.kitti_stereo import read_kitti_stereo
from edgedepth.data.benchmarks.middlebury import read_middlebury
from edgedepth.data.benchmarks.nyu import read_nyu
from edgedepth.data.benchmarks.tum import read_tum
from edgedepth.data.registry import DATASETS

READERS: dict[str, Callable[[str | Path], Benchmark]] = {
    "kitti-depth": read_kitti_depth, "kitti-stereo": read_kitti_stereo, "nyu": read_nyu,
    "middlebury": read_middlebury, "eth3d": read_eth3d, "tum": read_tum, "diode": read_diode,
}


def _register(name: str, reader: Callable[[str | Path], Benchmark]) -> None:
    """Register `reader` as the dataset `name`: `get_dataset(name, folder=DIR, limit=N)`."""

    def factory(folder: str, limit: int | None = None) -> Benchmark:
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise BenchmarkError(f"{name}: limit must be a positive whole number, got {limit!r}")
        return reader(folder).limited(limit)

    factory.dataset_name = name  # type: ignore[attr-defined]
    factory.__doc__ = f"{name}: {(reader.__doc__ or '').strip().splitlines()[0]}"
    DATASETS.register(factory)


for _name, _reader in READERS.items():
    _register(_name, _reader)

BENCHMARKS = tuple(READERS)

__all__ = ["BENCHMARKS", "READERS", "Benchmark", "BenchmarkError"]
