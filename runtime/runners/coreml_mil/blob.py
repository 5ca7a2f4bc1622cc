"""The weight file of an mlpackage (`weights/weight.bin`, MIL blob storage version 2) read with numpy.

Layout: a 64-byte header (uint32 blob count, uint32 version = 2), then per blob a 64-byte metadata record
(uint32 sentinel 0xDEADBEEF, uint32 storage type, uint64 size in bytes, uint64 data offset) and its data. A const's
`blobFileValue.offset` points at the metadata record; the value's type in the program says how to read the bytes
(sub-byte types are packed, least significant bit first)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.runners.coreml_mil.errors import MILError

SENTINEL = 0xDEADBEEF
HEADER_BYTES = 64
METADATA = np.dtype([("sentinel", "<u4"), ("storage_type", "<u4"), ("size", "<u8"), ("offset", "<u8")])


class WeightFile:
    """One blob file mapped read-only; `raw(offset)` returns the bytes of the blob whose metadata is at `offset`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.data = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise MILError(f"cannot read the weight file {self.path.name}: {exc}") from exc
        if self.data.size < HEADER_BYTES:
            raise MILError(f"weight file {self.path.name} is {self.data.size} bytes, shorter than its header")
        version = int(self.data[4:8].view("<u4")[0])
        if version != 2:
            raise MILError(f"weight file {self.path.name} has storage version {version}, expected 2")

    def raw(self, offset: int) -> np.ndarray:
        """The data bytes (uint8) of the blob whose metadata record starts at `offset`."""
        end = offset + METADATA.itemsize
        if offset < HEADER_BYTES or end > self.data.size:
            raise MILError(f"weight offset {offset} lies outside {self.path.name} ({self.data.size} bytes)")
        record = self.data[offset:end].view(METADATA)[0]
        if int(record["sentinel"]) != SENTINEL:
            raise MILError(f"no blob at offset {offset} of {self.path.name} (bad sentinel)")
        start, size = int(record["offset"]), int(record["size"])
        if start + size > self.data.size:
            raise MILError(f"blob at offset {offset} of {self.path.name} runs past the end of the file")
        return np.asarray(self.data[start:start + size])
