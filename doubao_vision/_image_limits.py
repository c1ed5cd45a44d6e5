"""Image facts against Doubao's limits: read a header, then check size and pixels.

:func:`inspect_image` wraps the header parsers (``_image_headers``) with our
errors; :func:`check_image` applies the limits from ``_facts``. The emulator
uses both on every image it receives.
"""

from __future__ import annotations

from ._exceptions import ImageDimensionsError, ImageTooLargeError, UnsupportedImageFormatError
from ._facts import IMAGE_FORMATS, MAX_IMAGE_BYTES, MAX_PIXELS, MIN_PIXELS, MIN_SIDE
from ._image_headers import BadHeader, ImageInfo, Truncated, parse_header, sniff

__all__ = ["check_image", "inspect_image", "too_large"]


def inspect_image(data: bytes | bytearray | memoryview, *, source: str = "<bytes>") -> ImageInfo:
    """Sniff the format from the magic bytes and read the size from the headers.

    Args:
        data: the whole file; only the headers are read and nothing is copied.
        source: what to call the image in error messages.

    Returns:
        The format (one of ``IMAGE_FORMATS``) and, where the headers say, the width and
        height (``None`` for HEIC/HEIF, whose size is not read).

    Raises:
        UnsupportedImageFormatError: not one of ``IMAGE_FORMATS``, or a header that is
            truncated or corrupt.
    """
    with memoryview(data) as view, view.cast("B") as buf:
        # The HEIF brand list is the longest thing sniffed; 64 bytes hold the usual ones.
        fmt = sniff(bytes(buf[:64]))
        if fmt is None:
            what = "empty" if not len(buf) else "not a supported image"
            raise UnsupportedImageFormatError(
                f"{source} is {what}; accepted formats are {', '.join(IMAGE_FORMATS)}",
                source=source,
            )
        try:
            width, height = parse_header(fmt, buf)
        except Truncated:
            raise UnsupportedImageFormatError(
                f"{source}: the {fmt} header is truncated ({len(buf)} bytes)", source=source
            ) from None
        except BadHeader as exc:
            raise UnsupportedImageFormatError(
                f"{source}: corrupt {fmt} header: {exc}", source=source
            ) from None
    return ImageInfo(fmt, width, height)


def too_large(size: int, source: str) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{source} is {size / 2**20:.2f} MB ({size:,} bytes); the limit is "
        f"10 MB ({MAX_IMAGE_BYTES:,} bytes) per image",
        source=source,
    )


def check_image(info: ImageInfo, size: int, *, source: str, oversize: bool = True) -> None:
    """Check an image against Doubao's limits before anything is sent.

    Args:
        info: from :func:`inspect_image`; unknown sides skip the dimension checks.
        size: the file size in bytes (before base64).
        source: what to call the image in error messages.
        oversize: also refuse what resizing could fix (over 10 MB or 36 MP).

    Raises:
        ImageTooLargeError: over ``MAX_IMAGE_BYTES`` (10 MB).
        ImageDimensionsError: a side of ``MIN_SIDE`` px or less, or width x height
            outside [``MIN_PIXELS``, ``MAX_PIXELS``].
    """
    if oversize and size > MAX_IMAGE_BYTES:
        raise too_large(size, source)
    w, h = info.width, info.height
    shown = f"{'?' if w is None else w}x{'?' if h is None else h}"
    if (w is not None and w <= MIN_SIDE) or (h is not None and h <= MIN_SIDE):
        raise ImageDimensionsError(
            f"{source} is {shown} px; both sides must be more than {MIN_SIDE} px", source=source
        )
    if w is None or h is None:
        return
    if w * h < MIN_PIXELS or (oversize and w * h > MAX_PIXELS):
        raise ImageDimensionsError(
            f"{source} is {shown} px ({w * h:,} pixels); width x height must be within "
            f"[{MIN_PIXELS}, {MAX_PIXELS:,}]",
            source=source,
        )
