"""Benchmark files written byte by byte from each format's specification (PNG, PGM, PPM, BMP, PFM, a MATLAB v7.3
header on HDF5), never with the readers' own code, and small folders in each benchmark's layout."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def png(values: np.ndarray) -> bytes:
    """PNG (ISO/IEC 15948): signature, IHDR, one zlib IDAT of filter-0 scanlines, IEND; uint8 grey or RGB, or
    uint16 grey (samples big-endian)."""
    values = np.asarray(values)
    height, width = values.shape[:2]
    depth = 16 if values.dtype == np.uint16 else 8
    colour = 2 if values.ndim == 3 else 0
    rows = values.astype(">u2" if depth == 16 else "u1").reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pnm(values: np.ndarray) -> bytes:
    """Binary PGM (P5, grey) or PPM (P6, RGB), maxval 255 (Netpbm)."""
    magic = b"P6" if values.ndim == 3 else b"P5"
    height, width = values.shape[:2]
    return magic + f"\n{width} {height}\n255\n".encode() + np.asarray(values, np.uint8).tobytes()


def bmp24(grey: np.ndarray) -> bytes:
    """A 24-bit BMP (BITMAPFILEHEADER + BITMAPINFOHEADER), the grey value in B, G and R, rows bottom-up, each
    padded to a multiple of 4 bytes."""
    height, width = grey.shape
    stride = (width * 3 + 3) // 4 * 4
    rows = b"".join(np.repeat(grey[y].astype(np.uint8), 3).tobytes().ljust(stride, b"\x00")
                    for y in range(height - 1, -1, -1))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + len(rows), 0, 0, 54) + info + rows


def pfm(values: np.ndarray, little_endian: bool = True) -> bytes:
    """PFM: 'Pf', 'width height', the scale (negative = little-endian), then float32 rows bottom to top."""
    height, width = values.shape
    scale = "-1.0" if little_endian else "1.0"
    order = "<f4" if little_endian else ">f4"
    return f"Pf\n{width} {height}\n{scale}\n".encode() + np.ascontiguousarray(values[::-1]).astype(order).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


MIDDLEBURY_CALIB = ("cam0=[100 0 20.5; 0 100 12; 0 0 1]\ncam1=[100 0 22.5; 0 100 12; 0 0 1]\ndoffs=2\n"
                    "baseline=200.0\nwidth={width}\nheight=24\nndisp=40\nisint=0\nvmin=1\nvmax=30\n")


def middlebury_2014_scene(folder: Path, truth: str = "disp0.pfm", little_endian: bool = True) -> np.ndarray:
    """A 24×40 Middlebury 2014 scene: images, disparity (one +inf pixel), calib.txt, mask0nocc.png."""
    disparity = np.tile(np.linspace(5.0, 20.0, 40, dtype=np.float32), (24, 1))
    disparity[0, 0] = np.inf
    write(folder / "im0.png", png(rgb(24, 40, 1)))
    write(folder / "im1.png", png(rgb(24, 40, 2)))
    write(folder / truth, pfm(disparity, little_endian))
    (folder / "calib.txt").write_text(MIDDLEBURY_CALIB.format(width=40))
    mask = np.full((24, 40), 255, np.uint8)
    mask[:, :10] = 128  # occluded
    write(folder / "mask0nocc.png", png(mask))
    return disparity
