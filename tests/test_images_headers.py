"""Headers as the reference decoders read them: libjpeg's marker scan, BigTIFF,
invalid BMP and WebP headers refused, GIF frames and ICO entries as Pillow sizes them."""

from __future__ import annotations

import struct

import pytest

from doubao_vision._exceptions import UnsupportedImageFormatError
from doubao_vision._images import inspect_image

from .test_images import _segment, bmp, gif, info, jpeg, png_header


@pytest.mark.parametrize(
    "before_sof",
    [
        b"junk!",  # junk bytes between segments
        b"\x00",  # one stray byte before a marker
        b"\xff\x00",  # a stuffed FF 00 pair before the frame header
        b"\xff\x00\x00\x00\xff\xff\xff",  # junk, stuffing and fill together
        b"\xff\xff\xff\xff",  # fill bytes
        b"\xff\xd0\xff\x01",  # standalone RST0 and TEM markers
    ],
    ids=["junk", "stray", "ff00", "mixed", "fill", "standalone"],
)
def test_jpeg_resynchronises_like_libjpeg(before_sof: bytes) -> None:
    """Bytes between segments that libjpeg skips are skipped; the frame size is still read."""
    assert info(jpeg(640, 480, before_sof=before_sof)) == ("jpeg", 640, 480)


@pytest.mark.parametrize("delta", [1, 2, 5])
def test_jpeg_segment_length_too_short(delta: int) -> None:
    """A segment whose length is a few bytes short lands on junk; the scan finds the next marker."""
    comment = b"a comment, nothing more"
    bad = struct.pack(">BBH", 0xFF, 0xFE, len(comment) + 2 - delta) + comment
    assert info(jpeg(321, 123, before_sof=bad)) == ("jpeg", 321, 123)


def test_jpeg_segment_length_too_long_into_junk() -> None:
    """A segment whose length overshoots into padding still reaches the frame header."""
    bad = struct.pack(">BBH", 0xFF, 0xFE, 12) + b"0123456789" + b"\x00\x00\x00"
    assert info(jpeg(300, 200, before_sof=bad)) == ("jpeg", 300, 200)


@pytest.mark.parametrize("marker", [0x02, 0x4F, 0xBF])
def test_jpeg_reserved_marker_is_corrupt(marker: int) -> None:
    """A reserved marker (0x02..0xBF) is refused as corrupt, as libjpeg refuses it."""
    with pytest.raises(UnsupportedImageFormatError, match="unknown JPEG marker"):
        inspect_image(jpeg(10, 10, before_sof=_segment(marker, b"xx")))


def test_jpeg_junk_to_the_end_is_truncated() -> None:
    """Junk that runs to the end of the buffer before a frame header is truncation."""
    data = jpeg(50, 50)
    with pytest.raises(UnsupportedImageFormatError, match="truncated"):
        inspect_image(data[:20] + b"\x01" * 10_000)


def _bigtiff(width: int, height: int, order: str, kind: int) -> bytes:
    e = order
    magic = b"II+\x00" if e == "<" else b"MM\x00+"
    head = magic + struct.pack(e + "HHQ", 8, 0, 16)
    code = {3: "H", 4: "I", 16: "Q"}[kind]

    def entry(tag: int, value: int) -> bytes:
        packed = struct.pack(e + code, value)
        return struct.pack(e + "HHQ", tag, kind, 1) + packed + bytes(8 - len(packed))

    ifd = struct.pack(e + "Q", 3) + struct.pack(e + "HHQQ", 254, 4, 1, 0)
    return head + ifd + entry(256, width) + entry(257, height) + struct.pack(e + "Q", 0)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("kind", [3, 4, 16])
def test_bigtiff_size(order: str, kind: int) -> None:
    """BigTIFF (II+/MM+, 64-bit offsets) is TIFF: its size is read, as SHORT, LONG or LONG8."""
    assert info(_bigtiff(4000, 3000, order, kind)) == ("tiff", 4000, 3000)


def test_tiff_without_sides_is_corrupt() -> None:
    """A TIFF whose first IFD names no width and height is refused, not left size-less."""
    data = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 254, 4, 1, 0) + bytes(4)
    with pytest.raises(UnsupportedImageFormatError, match="no ImageWidth"):
        inspect_image(data)


def test_tiff_values_behind_an_offset() -> None:
    """A width given as several values lives behind an offset; the first value counts."""
    e = "<"
    entries = struct.pack(e + "HHII", 256, 3, 4, 38) + struct.pack(e + "HHII", 257, 4, 1, 77)
    ifd = struct.pack(e + "H", 2) + entries + struct.pack(e + "I", 0)
    data = b"II*\x00" + struct.pack(e + "I", 8) + ifd + struct.pack(e + "4H", 99, 1, 2, 3)
    assert info(data) == ("tiff", 99, 77)


def _bmp_with(header_size: int = 40, bits: int = 24, colors: int = 0) -> bytes:
    dib = struct.pack("<IiiHHIIiiII", header_size, 20, 20, 1, bits, 0, 0, 0, 0, colors, 0)
    dib += bytes(max(0, header_size - len(dib)))
    return b"BM" + struct.pack("<IHHI", 14 + len(dib), 0, 0, 14 + len(dib)) + dib


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (_bmp_with(bits=7), "bit count 7"),
        (_bmp_with(bits=48), "bit count 48"),
        (_bmp_with(header_size=41), "DIB header size 41"),
        (_bmp_with(header_size=200), "DIB header size 200"),
        (_bmp_with(bits=8, colors=70_000), "palette size 70000"),
        (bmp(0, 10), "width 0"),
    ],
)
def test_invalid_bmp_headers_are_corrupt(data: bytes, says: str) -> None:
    """BMP headers with a bit count, header size or palette size that cannot be are refused."""
    with pytest.raises(UnsupportedImageFormatError, match=f"corrupt bmp header: {says}"):
        inspect_image(data)


@pytest.mark.parametrize("header_size", [40, 52, 56, 64, 108, 124])
@pytest.mark.parametrize("bits", [1, 4, 8, 16, 24, 32])
def test_valid_bmp_headers(header_size: int, bits: int) -> None:
    """Every DIB header size and bit count that exists is read."""
    assert info(_bmp_with(header_size, bits, colors=2 if bits == 1 else 0)) == ("bmp", 20, 20)


@pytest.mark.parametrize("chunk", [b"ALPH", b"ICCP", b"EXIF", b"\x00\x00\x00\x00"])
def test_webp_without_a_frame_chunk_first_is_refused(chunk: bytes) -> None:
    """A WebP whose first chunk is not VP8, VP8L or VP8X is refused, never left size-less."""
    body = bytes(20)
    data = b"RIFF" + struct.pack("<I", 12 + len(body)) + b"WEBP" + chunk
    data += struct.pack("<I", len(body)) + body
    with pytest.raises(UnsupportedImageFormatError, match="first WebP chunk"):
        inspect_image(data)


def test_webp_vp8l_needs_its_signature() -> None:
    """A VP8L chunk without its 0x2F signature byte is corrupt."""
    body = b"\x00" + struct.pack("<I", 99 | 99 << 14)
    data = b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBPVP8L"
    data += struct.pack("<I", len(body)) + body
    with pytest.raises(UnsupportedImageFormatError, match="signature"):
        inspect_image(data)


def test_gif_first_frame_larger_than_screen() -> None:
    """A first frame that overflows the logical screen grows the size, as Pillow does."""
    screen = struct.pack("<HHBBB", 100, 100, 0x80, 0, 0) + bytes(6)  # a 2-colour table
    comment = b"!\xfe\x05hello\x00"  # an extension before the frame
    frame = b"," + struct.pack("<HHHHB", 50, 10, 120, 40, 0) + b"\x02\x02\x44\x01\x00;"
    assert info(b"GIF89a" + screen + comment + frame) == ("gif", 170, 100)


def test_gif_without_a_frame_is_corrupt() -> None:
    """A GIF that ends before its first frame is no image."""
    with pytest.raises(UnsupportedImageFormatError, match="corrupt gif"):
        inspect_image(b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b";")


def test_png_header_still_plain() -> None:
    """A PNG's size still comes straight from IHDR."""
    assert info(png_header(7000, 5000)) == ("png", 7000, 5000)


def test_gif_helper_is_read() -> None:
    """The minimal GIF the other tests build is read."""
    assert info(gif(33, 44)) == ("gif", 33, 44)
