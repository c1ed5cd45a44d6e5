"""Image inputs: path / bytes / URL -> an :class:`Image` whose limits are known.

Only headers are read (see ``_image_headers``). A base64 data URL keeps the
text the user gave: its header is read from a decoded prefix and the text is
spliced into the request body unchanged (``_dataurl``), so the bytes are
decoded only if something asks for :attr:`Image.data`.

An image may be built unchecked (``check=False``): formats and sizes are still
read, but "too large" (over 10 MB or 36 MP: things resizing can fix) is left to
:meth:`Image.check`, which the client runs, or resizing fixes, before sending.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import Iterator
from typing import Any, TypeAlias

import attrs

from ._dataurl import declared_format, parse_data_url
from ._exceptions import ImageError, InvalidRequestError, UnsupportedImageFormatError
from ._facts import IMAGE_FORMATS, MAX_IMAGE_BYTES, MAX_PIXELS, MIN_PIXELS, MIN_SIDE
from ._image_headers import ImageInfo
from ._image_limits import check_image, inspect_image
from ._image_sources import SCHEME, file_url_path, read_file, unsupported_scheme

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
_SLICE = 3 * 64 * 1024  # a multiple of 3 (and 4): base64 slices need no padding mid-way


@attrs.frozen(repr=False, eq=False)
class Image:
    """One image for a request: inline bytes or a remote ``http(s)`` URL.

    Build it with :meth:`from_path`, :meth:`aload`, :meth:`from_bytes`,
    :meth:`from_url` or :func:`to_image`; they check Doubao's limits so a bad
    image fails before it is sent. Exactly one of ``data`` and ``url`` is set.
    ``format``, ``width`` and ``height`` are ``None`` where unknown (always for
    remote images). An image from a data URL decodes its bytes on first access
    to ``data``; until then it holds only the base64 text it was given.
    """

    source: str
    _data: bytes | None = attrs.field(default=None, alias="data")
    url: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    # The data URL as the user gave it (their own ASCII str, not a copy: it lives in
    # their message anyway) and where its canonical base64 starts.
    _b64: str | None = attrs.field(default=None, init=False)
    _b64_at: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        if (self._data is None) == (self.url is None):
            raise ImageError("an Image needs exactly one of data and url", source=self.source)

    @property
    def data(self) -> bytes | None:
        """The image bytes; ``None`` for a remote image."""
        if self._data is None and self._b64 is not None:
            # Benign race: two threads may decode at once and store equal bytes.
            object.__setattr__(self, "_data", binascii.a2b_base64(self._b64[self._b64_at :]))
        return self._data

    @property
    def nbytes(self) -> int:
        """The size of the image bytes (0 for a remote image), without decoding."""
        if self._data is not None:
            return len(self._data)
        if self._b64 is not None:
            return self.base64_size // 4 * 3 - self._b64[-2:].count("=")
        return 0

    @property
    def within_limits(self) -> bool:
        """Whether Doubao takes the image as it is (always true for remote images)."""
        if self.url is not None:
            return True
        pixels = (self.width or 0) * (self.height or 0)
        return self.nbytes <= MAX_IMAGE_BYTES and pixels <= MAX_PIXELS

    def check(self) -> Image:
        """Raise what an image built with ``check=False`` would have raised; return self.

        Raises:
            ImageTooLargeError, ImageDimensionsError: over 10 MB or 36 MP.
        """
        if self.url is None and self.format is not None:
            info = ImageInfo(self.format, self.width, self.height)
            check_image(info, self.nbytes, source=self.source)
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        if self._facts() != other._facts():
            return False
        if self._b64 is not None and other._b64 is not None:
            # Canonical base64: equal text, equal bytes.
            return self._b64[self._b64_at :] == other._b64[other._b64_at :]
        return self.data == other.data

    def __hash__(self) -> int:
        return hash(self._facts())

    def _facts(self) -> tuple[Any, ...]:
        return (self.source, self.url, self.format, self.width, self.height, self.nbytes)

    def __repr__(self) -> str:
        if self.url is not None:
            return f"Image(url={self.url!r})"
        w = "?" if self.width is None else self.width
        h = "?" if self.height is None else self.height
        return (
            f"Image(source={self.source!r}, format={self.format!r}, size={w}x{h}, "
            f"bytes={self.nbytes})"
        )

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, check: bool = True) -> Image:
        """Read, inspect and check an image file (a blocking read; see :meth:`aload`).

        ``~`` is expanded. With ``check=False`` an image over 10 MB or 36 MP is
        kept, to be resized or refused at send time (:meth:`check`).

        Raises:
            ImageNotFoundError: missing, a directory, or unreadable.
            ImageTooLargeError: over 10 MB (found from the file size, before reading).
            UnsupportedImageFormatError, ImageDimensionsError: see :func:`check_image`.
        """
        source = os.fspath(path)
        return cls._inline(read_file(source, check=check), source, check=check)

    @classmethod
    async def aload(cls, path: str | os.PathLike[str], *, check: bool = True) -> Image:
        """:meth:`from_path` in a worker thread, so the event loop never waits on disk."""
        return await asyncio.to_thread(cls.from_path, path, check=check)

    @classmethod
    def from_bytes(
        cls, data: bytes | bytearray | memoryview, *, name: str | None = None, check: bool = True
    ) -> Image:
        """Inspect and check in-memory image bytes; ``name`` is used in error messages.

        Raises:
            UnsupportedImageFormatError, ImageTooLargeError, ImageDimensionsError.
        """
        return cls._inline(bytes(data), name or "<bytes>", check=check)

    @classmethod
    def from_url(cls, url: str, *, check: bool = True) -> Image:
        """Wrap an ``http(s)`` URL (sent as is, unchecked) or take a base64 data URL.

        A ``data:image/<fmt>;base64,...`` URL becomes an inline image; ``<fmt>`` must
        match the real bytes (``jpg``/``jpeg``, ``tif``/``tiff`` and ``dib``/``bmp`` are
        the same). A ``file://`` URL is read as a path.

        Raises:
            ImageError: an empty URL, an unsupported scheme, a data URL that is not
                a base64 image, or invalid base64.
            UnsupportedImageFormatError: the declared format is not the real one.
            ImageTooLargeError, ImageDimensionsError: see :func:`check_image`.
        """
        url = url.strip()
        scheme = url[:8].lower()
        if scheme.startswith(("http://", "https://")):
            return cls(source=url, url=url)
        if scheme.startswith("file://"):
            return cls.from_path(file_url_path(url), check=check)
        if not scheme.startswith("data:"):
            if not url:
                raise ImageError("image URL '' is empty", source="<url>")
            raise unsupported_scheme(url)
        fast = parse_data_url(url)
        if fast is None:  # anything unusual: decode it whole
            return _slow_data_url(url, check=check)
        declared, info, start = fast
        size = (len(url) - start) // 4 * 3 - url[-2:].count("=")
        check_image(info, size, source="<data URL>", oversize=check)
        image = cls("<data URL>", b"", None, info.format, info.width, info.height)
        object.__setattr__(image, "_data", None)
        object.__setattr__(image, "_b64", url)
        object.__setattr__(image, "_b64_at", start)
        return _declared_is(image, declared)

    @classmethod
    def _inline(cls, data: bytes, source: str, *, check: bool = True) -> Image:
        info = inspect_image(data, source=source)
        check_image(info, len(data), source=source, oversize=check)
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
        """The base64 of an inline image's bytes (the text it was given, for a data URL).

        Raises:
            ImageError: a remote image (it has no bytes).
        """
        if self._b64 is not None:
            return self._b64[self._b64_at :].encode("ascii")
        data = self.data
        if data is None:
            raise ImageError(f"{self.source} is a remote image with no bytes", source=self.source)
        return base64.b64encode(data)

    @property
    def base64_size(self) -> int:
        """The length of :meth:`base64_bytes`, without encoding."""
        if self._b64 is not None:
            return len(self._b64) - self._b64_at
        return 4 * ((self.nbytes + 2) // 3)

    def base64_chunks(self) -> Iterator[bytes]:
        """:meth:`base64_bytes` a slice at a time: the body writer never holds it all."""
        text = self._b64
        if text is not None:
            # Encoded a slice at a time as it is written: only one slice exists as bytes.
            for start in range(self._b64_at, len(text), _SLICE):
                yield text[start : start + _SLICE].encode("ascii")
            return
        view = memoryview(self.data or b"")
        for start in range(0, len(view), _SLICE):
            yield base64.b64encode(view[start : start + _SLICE])

    def data_url(self) -> str:
        """``data:image/<fmt>;base64,...`` for an inline image, the URL for a remote one.

        For an image from a data URL this is the user's own str whenever its head
        already reads ``data:image/<format>;base64,`` (no copy is made).
        """
        if self.url is not None:
            return self.url
        text = self._b64
        if text is not None:
            head = f"data:image/{self.format};base64,"
            if self._b64_at == len(head) and text.startswith(head):
                return text
            return head + text[self._b64_at :]
        return f"data:{self.mime};base64,{self.base64_bytes().decode('ascii')}"

    def _base64_buffer(self) -> bytes | memoryview:
        """:meth:`base64_bytes` with one copy fewer for a data URL's text (a view)."""
        if self._b64 is not None:
            return memoryview(self._b64.encode("ascii"))[self._b64_at :]
        return self.base64_bytes()

    def resized(self, max_pixels: int, *, format: str | None = None, quality: int = 85) -> Image:
        """A copy scaled down so width x height fits ``max_pixels`` (needs the ``images`` extra).

        The EXIF orientation is applied first, alpha is kept, and an image that
        already fits (and is under 10 MB) comes back as itself, byte for byte.
        See :func:`doubao_vision._resize.resize_image` for the details.

        Raises:
            ImportError: Pillow is not installed (``pip install 'doubao-vision[images]'``).
            ImageError: a remote image, or bytes Pillow cannot decode.
        """
        from ._resize import resize_image  # Pillow is optional: import it only when asked

        return resize_image(self, max_pixels, format=format, quality=quality)


def _slow_data_url(url: str, *, check: bool = True) -> Image:
    """A data URL decoded whole: the reference the fast path (``_dataurl``) must equal."""
    head, _, payload = url.partition(",")
    declared = declared_format(head)
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError as exc:  # binascii.Error, or a non-ASCII character
        raise ImageError(f"<data URL> has invalid base64: {exc}", source="<data URL>") from exc
    return _declared_is(Image._inline(data, "<data URL>", check=check), declared)


def _declared_is(image: Image, declared: str) -> Image:
    if image.format != declared:
        raise UnsupportedImageFormatError(
            f"<data URL> declares image/{declared} but the bytes are {image.format}",
            source="<data URL>",
        )
    return image


ImageInput: TypeAlias = Image | str | os.PathLike[str] | bytes | bytearray | memoryview


def to_image(value: ImageInput, *, check: bool = True) -> Image:
    """Turn anything a user may pass as an image into an :class:`Image`.

    An ``Image`` passes through; bytes (or a bytearray/memoryview) are inspected;
    a string starting with ``http://``, ``https://``, ``data:`` or ``file://`` is
    a URL (any other ``scheme://`` is refused); any other string or path-like is
    a file path (``~`` expanded). ``check=False`` defers "too large" to send time
    (see :meth:`Image.check`).

    Raises:
        InvalidRequestError: ``value`` is none of those types.
        ImageError: from the constructor that was chosen.
    """
    if isinstance(value, Image):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Image.from_bytes(value, check=check)
    if isinstance(value, str):
        text = value.lstrip()
        if text[:5].lower() == "data:" or SCHEME.match(text):
            return Image.from_url(value, check=check)
        return Image.from_path(value, check=check)
    if isinstance(value, os.PathLike):
        return Image.from_path(value, check=check)
    raise InvalidRequestError(
        f"an image must be an Image, a path, a URL or bytes, not {type(value).__name__}"
    )
