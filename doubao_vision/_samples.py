"""Deterministic sample images built in code: no binary files, no Pillow.

The demo, the tests and the benchmarks all draw from here, so the same seed gives
the same bytes everywhere.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections.abc import Iterable

__all__ = ["make_png", "make_png_of_size", "sample_images"]

# Signature, IHDR chunk and IEND chunk, each chunk with its 12 bytes of framing.
_PNG_OVERHEAD = 8 + (12 + 13) + 12


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_png(width: int, height: int, rows: Iterable[bytes], *, level: int) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``3 * width`` bytes each."""
    if width < 1 or height < 1:
        raise ValueError(f"a PNG needs positive sides, not {width}x{height}")
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) on every row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, level))
        + _chunk(b"IEND", b"")
    )


def make_png(width: int, height: int, *, seed: int = 0, compress: bool = True) -> bytes:
    """A valid RGB PNG whose pixels depend on ``seed``.

    Every row is the seed's random row rotated by a few pixels, so building even a
    6000 x 6000 image costs a few C-speed copies, not a Python loop per pixel.

    Args:
        width, height: the size in pixels, both at least 1.
        seed: different seeds give different bytes; the same seed the same bytes.
        compress: ``False`` stores the pixels with zlib level 0, so the file is about
            ``3 * width * height`` bytes and quick to make; handy for size limits.

    Raises:
        ValueError: a side below 1.
    """
    if width < 1 or height < 1:
        raise ValueError(f"a PNG needs positive sides, not {width}x{height}")
    n = 3 * width
    twice = random.Random(seed).randbytes(n) * 2
    shift = 3 * (seed % 7 + 1)  # whole pixels, so the channels stay aligned
    rows = (twice[k : k + n] for k in (y * shift % n for y in range(height)))
    return _encode_png(width, height, rows, level=6 if compress else 0)


def make_png_of_size(approx_bytes: int, *, seed: int = 0) -> bytes:
    """An uncompressed, roughly square PNG of about ``approx_bytes`` bytes.

    The result is within one row (``3 * width + 1`` bytes) plus zlib's few bytes of
    framing per 64 KiB of the target.
    """
    pixel_bytes = max(approx_bytes - _PNG_OVERHEAD, 4)
    width = max(1, math.isqrt(pixel_bytes // 3))
    height = max(1, round(pixel_bytes / (3 * width + 1)))
    return make_png(width, height, seed=seed, compress=False)


def _solid(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    return _encode_png(width, height, [bytes(rgb) * width] * height, level=9)


def _gradient(width: int, height: int) -> bytes:
    rows = (
        b"".join(bytes((255 * x // width, 255 * y // height, 128)) for x in range(width))
        for y in range(height)
    )
    return _encode_png(width, height, rows, level=9)


def _checkerboard(width: int, height: int, cell: int) -> bytes:
    black, white = b"\x00\x00\x00" * cell, b"\xff\xff\xff" * cell
    pairs = -(-width // (2 * cell))
    even = ((black + white) * pairs)[: 3 * width]
    odd = ((white + black) * pairs)[: 3 * width]
    return _encode_png(
        width, height, [odd if y // cell % 2 else even for y in range(height)], level=9
    )


def sample_images() -> dict[str, bytes]:
    """Four small named PNGs for the demo: a red square, a gradient, a checkerboard, noise."""
    return {
        "red-square.png": _solid(64, 64, (220, 30, 30)),
        "gradient.png": _gradient(96, 64),
        "checkerboard.png": _checkerboard(64, 64, 8),
        "noise.png": make_png(48, 48, seed=7),
    }
