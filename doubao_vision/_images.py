"""Image inputs: sniff the format, read the size from the headers, check Doubao's limits.

Only headers are read: :func:`inspect_image` looks at a few dozen bytes (a JPEG's
marker chain, a TIFF's first IFD) and never copies the buffer, because the
emulator runs it on every decoded image of every request.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from typing import TypeAlias

import attrs

from ._exceptions import (
    ImageDimensionsError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidRequestError,
    UnsupportedImageFormatError,
)
from ._facts import IMAGE_FORMATS, MAX_IMAGE_BYTES, MAX_PIXELS, MIN_PIXELS, MIN_SIDE

__all__ = [
    "FORMATS",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "MIN_PIXELS",
    "MIN_SIDE",
    "Image",
    "ImageInfo",
    "ImageInput",
    "check_image",
    "inspect_image",
    "to_image",
]

FORMATS = IMAGE_FORMATS
_ALIASES = {"jpg": "jpeg", "tif": "tiff", "dib": "bmp"}
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"heif"})
# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG), CC (DAC) share the range, not the role.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0..7, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
_DATA_URL = re.compile(r"data:image/([A-Za-z0-9.+-]+);base64", re.ASCII)


class _BadHeader(Exception):
    """A header that names a format but cannot be parsed (internal; carries the reason)."""


class _Truncated(_BadHeader):
    """A header field lies past the end of the buffer (internal)."""


@attrs.frozen
class ImageInfo:
    """What the headers say: a format name from ``FORMATS`` and the size, if known."""

    format: str
    width: int | None
    height: int | None


def _unpack(fmt: str, buf: memoryview, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(buf):
        raise _Truncated
    return struct.unpack_from(fmt, buf, offset)


_Size = tuple[int | None, int | None]


def _png(buf: memoryview) -> _Size:
    if bytes(buf[12:16]) != b"IHDR":
        raise _Truncated if len(buf) < 16 else _BadHeader("it does not start with IHDR")
    width, height = _unpack(">II", buf, 16)
    return width, height


def _jpeg(buf: memoryview) -> _Size:
    pos, end = 2, len(buf)
    while True:
        if pos >= end:
            raise _Truncated
        if buf[pos] != 0xFF:
            raise _BadHeader(f"no JPEG marker at byte {pos}")
        while pos < end and buf[pos] == 0xFF:  # any number of fill bytes
            pos += 1
        if pos >= end:
            raise _Truncated
        marker = buf[pos]
        if marker in _JPEG_STANDALONE:
            pos += 1
            continue
        if marker in (0x00, 0xD9, 0xDA):  # stuffing, EOI or SOS before any frame header
            raise _BadHeader("it has no JPEG frame header")
        (length,) = _unpack(">H", buf, pos + 1)
        if marker in _JPEG_SOF:
            height, width = _unpack(">HH", buf, pos + 4)
            return width, height or None  # height 0 is set later by a DNL marker
        if length < 2:
            raise _BadHeader(f"JPEG segment length {length} at byte {pos + 1}")
        pos += 1 + length


def _gif(buf: memoryview) -> _Size:
    width, height = _unpack("<HH", buf, 6)
    return width, height


def _webp(buf: memoryview) -> _Size:
    if len(buf) < 16:
        raise _Truncated
    chunk = bytes(buf[12:16])
    if chunk == b"VP8 ":
        if len(buf) >= 26 and bytes(buf[23:26]) != b"\x9d\x01\x2a":
            raise _BadHeader("the VP8 frame has no start code")
        width, height = _unpack("<HH", buf, 26)
        return width & 0x3FFF, height & 0x3FFF  # the top 2 bits are a scale
    if chunk == b"VP8L":
        (bits,) = _unpack("<I", buf, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w0, w1, w2, h0, h1, h2 = _unpack("<6B", buf, 24)
        return (w0 | w1 << 8 | w2 << 16) + 1, (h0 | h1 << 8 | h2 << 16) + 1
    return None, None


def _bmp(buf: memoryview) -> _Size:
    (header_size,) = _unpack("<I", buf, 14)
    if header_size == 12:  # the old BITMAPCOREHEADER: unsigned 16-bit sides
        width, height = _unpack("<HH", buf, 18)
        return width, height
    if header_size < 16:
        raise _BadHeader(f"DIB header size {header_size}")
    width, height = _unpack("<ii", buf, 18)
    if width < 0:
        raise _BadHeader(f"negative width {width}")
    return width, abs(height)  # a negative height means rows run top-down


def _tiff(buf: memoryview) -> _Size:
    e = "<" if buf[0] == 0x49 else ">"  # II: little-endian, MM: big-endian
    (ifd,) = _unpack(e + "I", buf, 4)
    (count,) = _unpack(e + "H", buf, ifd)
    sides: dict[int, int] = {}
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind = _unpack(e + "HH", buf, entry)
        if tag in (256, 257) and kind in (3, 4):  # ImageWidth/ImageLength, SHORT or LONG
            (sides[tag],) = _unpack(e + ("H" if kind == 3 else "I"), buf, entry + 8)
            if len(sides) == 2:
                break
    return sides.get(256), sides.get(257)


def _unknown_size(buf: memoryview) -> _Size:
    return None, None


_PARSERS = {
    "jpeg": _jpeg,
    "png": _png,
    "gif": _gif,
    "webp": _webp,
    "bmp": _bmp,
    "tiff": _tiff,
    "ico": _unknown_size,
    "heic": _unknown_size,
    "heif": _unknown_size,
}


def _heif_kind(head: bytes) -> str | None:
    major = head[8:12]
    if major in _HEIC_BRANDS:
        return "heic"
    if major not in _HEIF_BRANDS:
        return None
    # A "mif1" file that lists an HEVC brand among its compatible brands is HEIC in practice.
    box_size = int.from_bytes(head[:4], "big")
    brands = head[16 : min(box_size, len(head))]
    if any(brands[i : i + 4] in _HEIC_BRANDS for i in range(0, len(brands) - 3, 4)):
        return "heic"
    return "heif"


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"\x00\x00\x01\x00") and head[4:6] not in (b"", b"\x00\x00"):
        return "ico"  # the image count after the magic is at least 1
    if head[4:8] == b"ftyp":
        return _heif_kind(head)
    return None


def inspect_image(data: bytes | bytearray | memoryview, *, source: str = "<bytes>") -> ImageInfo:
    """Sniff the format from the magic bytes and read the size from the headers.

    Args:
        data: the whole file; only the headers are read and nothing is copied.
        source: what to call the image in error messages.

    Returns:
        The format (one of ``FORMATS``) and, where the headers say, the width and
        height (always ``None`` for ICO and HEIC/HEIF).

    Raises:
        UnsupportedImageFormatError: not one of ``FORMATS``, or a header that is
            truncated or corrupt.
    """
    with memoryview(data) as view, view.cast("B") as buf:
        # The HEIF brand list is the longest thing sniffed; 64 bytes hold the usual ones.
        fmt = _sniff(bytes(buf[:64]))
        if fmt is None:
            what = "empty" if not len(buf) else "not a supported image"
            raise UnsupportedImageFormatError(
                f"{source} is {what}; accepted formats are {', '.join(FORMATS)}", source=source
            )
        try:
            width, height = _PARSERS[fmt](buf)
        except _Truncated:
            raise UnsupportedImageFormatError(
                f"{source}: the {fmt} header is truncated ({len(buf)} bytes)", source=source
            ) from None
        except _BadHeader as exc:
            raise UnsupportedImageFormatError(
                f"{source}: corrupt {fmt} header: {exc}", source=source
            ) from None
    return ImageInfo(fmt, width, height)


def _check_size(size: int, source: str) -> None:
    if size > MAX_IMAGE_BYTES:
        raise ImageTooLargeError(
            f"{source} is {size / 2**20:.2f} MB ({size:,} bytes); the limit is "
            f"10 MB ({MAX_IMAGE_BYTES:,} bytes) per image",
            source=source,
        )


def check_image(info: ImageInfo, size: int, *, source: str) -> None:
    """Check an image against Doubao's limits before anything is sent.

    Args:
        info: from :func:`inspect_image`; unknown sides skip the dimension checks.
        size: the file size in bytes (before base64).
        source: what to call the image in error messages.

    Raises:
        ImageTooLargeError: over ``MAX_IMAGE_BYTES`` (10 MB).
        ImageDimensionsError: a side of ``MIN_SIDE`` px or less, or width x height
            outside [``MIN_PIXELS``, ``MAX_PIXELS``].
    """
    _check_size(size, source)
    w, h = info.width, info.height
    shown = f"{'?' if w is None else w}x{'?' if h is None else h}"
    if (w is not None and w <= MIN_SIDE) or (h is not None and h <= MIN_SIDE):
        raise ImageDimensionsError(
            f"{source} is {shown} px; both sides must be more than {MIN_SIDE} px", source=source
        )
    if w is not None and h is not None and not MIN_PIXELS <= w * h <= MAX_PIXELS:
        raise ImageDimensionsError(
            f"{source} is {shown} px ({w * h:,} pixels); width x height must be within "
            f"[{MIN_PIXELS}, {MAX_PIXELS:,}]",
            source=source,
        )


@attrs.frozen(repr=False)
class Image:
    """One image for a request: inline bytes or a remote ``http(s)`` URL.

    Build it with :meth:`from_path`, :meth:`from_bytes`, :meth:`from_url` or
    :func:`to_image`; they check Doubao's limits so a bad image fails before it is sent.
    Exactly one of ``data`` and ``url`` is set. ``format``, ``width`` and ``height``
    are ``None`` where unknown (always for remote images).
    """

    source: str
    data: bytes | None = None
    url: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.data is None) == (self.url is None):
            raise ImageError("an Image needs exactly one of data and url", source=self.source)

    def __repr__(self) -> str:
        if self.data is None:
            return f"Image(url={self.url!r})"
        w = "?" if self.width is None else self.width
        h = "?" if self.height is None else self.height
        return (
            f"Image(source={self.source!r}, format={self.format!r}, size={w}x{h}, "
            f"bytes={len(self.data)})"
        )

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Image:
        """Read, inspect and check an image file (a blocking read).

        Raises:
            ImageNotFoundError: missing, a directory, or unreadable.
            ImageTooLargeError: over 10 MB (found from the file size, before reading).
            UnsupportedImageFormatError, ImageDimensionsError: see :func:`check_image`.
        """
        source = os.fspath(path)
        try:
            with open(source, "rb") as f:
                _check_size(os.fstat(f.fileno()).st_size, source)
                data = f.read()
        except OSError as exc:
            reason = "not found" if isinstance(exc, FileNotFoundError) else "cannot be read"
            detail = exc.strerror or type(exc).__name__
            raise ImageNotFoundError(
                f"image file {source!r} {reason} ({detail})", source=source
            ) from exc
        return cls._inline(data, source)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, name: str | None = None) -> Image:
        """Inspect and check in-memory image bytes; ``name`` is used in error messages.

        Raises:
            UnsupportedImageFormatError, ImageTooLargeError, ImageDimensionsError.
        """
        return cls._inline(bytes(data), name or "<bytes>")

    @classmethod
    def from_url(cls, url: str) -> Image:
        """Wrap an ``http(s)`` URL (sent as is, unchecked) or decode a base64 data URL.

        A ``data:image/<fmt>;base64,...`` URL becomes an inline image; ``<fmt>`` must
        match the real bytes (``jpg``/``jpeg``, ``tif``/``tiff`` and ``dib``/``bmp`` are
        the same).

        Raises:
            ImageError: an empty URL, another scheme, or invalid base64.
            UnsupportedImageFormatError: the declared format is not the real one.
            ImageTooLargeError, ImageDimensionsError: see :func:`check_image`.
        """
        url = url.strip()
        scheme = url[:8].lower()
        if scheme.startswith(("http://", "https://")):
            return cls(source=url, url=url)
        if not scheme.startswith("data:"):
            what = "is empty" if not url else "must be http://, https:// or data:image/..."
            raise ImageError(f"image URL {url[:80]!r} {what}", source=url[:80] or "<url>")
        source = "<data URL>"
        head, _, payload = url.partition(",")
        match = _DATA_URL.fullmatch(head)
        if match is None:
            raise ImageError(
                f"{source} must look like data:image/<fmt>;base64,<data>, not {head[:60]!r}",
                source=source,
            )
        try:
            data = base64.b64decode(payload, validate=True)
        except binascii.Error as exc:
            raise ImageError(f"{source} has invalid base64: {exc}", source=source) from exc
        declared = match.group(1).lower()
        declared = _ALIASES.get(declared, declared)
        image = cls._inline(data, source)
        if image.format != declared:
            raise UnsupportedImageFormatError(
                f"{source} declares image/{declared} but the bytes are {image.format}",
                source=source,
            )
        return image

    @classmethod
    def _inline(cls, data: bytes, source: str) -> Image:
        info = inspect_image(data, source=source)
        check_image(info, len(data), source=source)
        return cls(source, data, None, info.format, info.width, info.height)

    @property
    def mime(self) -> str:
        """``image/<format>``, such as ``image/jpeg``.

        Raises:
            ImageError: a remote image, whose format is unknown.
        """
        if self.format is None:
            raise ImageError(f"the format of {self.source} is unknown", source=self.source)
        return f"image/{self.format}"

    def base64_bytes(self) -> bytes:
        """The base64 of an inline image's bytes.

        Raises:
            ImageError: a remote image (it has no bytes).
        """
        if self.data is None:
            raise ImageError(f"{self.source} is a remote image with no bytes", source=self.source)
        return base64.b64encode(self.data)

    def data_url(self) -> str:
        """``data:image/<fmt>;base64,...`` for an inline image, the URL for a remote one."""
        if self.url is not None:
            return self.url
        return f"data:{self.mime};base64,{self.base64_bytes().decode('ascii')}"


ImageInput: TypeAlias = Image | str | os.PathLike[str] | bytes | bytearray | memoryview


def to_image(value: ImageInput) -> Image:
    """Turn anything a user may pass as an image into an :class:`Image`.

    An ``Image`` passes through; bytes (or a bytearray/memoryview) are inspected; a
    string starting with ``http://``, ``https://`` or ``data:`` is a URL; any other
    string or path-like is a file path.

    Raises:
        InvalidRequestError: ``value`` is none of those types.
        ImageError: from the constructor that was chosen.
    """
    if isinstance(value, Image):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Image.from_bytes(value)
    if isinstance(value, str):
        if value.lstrip()[:8].lower().startswith(("http://", "https://", "data:")):
            return Image.from_url(value)
        return Image.from_path(value)
    if isinstance(value, os.PathLike):
        return Image.from_path(value)
    raise InvalidRequestError(
        f"an image must be an Image, a path, a URL or bytes, not {type(value).__name__}"
    )
