"""Resizing one image to a pixel budget with Pillow (the ``images`` extra).

Ark rescales every image to the budget its ``detail`` / ``image_pixel_limit``
implies (``_facts.pixel_budget``) on arrival, so the pixels above it are paid
for in upload time and never seen. :func:`resize_image` scales an image down
to a budget (EXIF orientation applied first, alpha kept, JPEG for photos and
PNG/WebP for alpha or line art); ``_prepare`` does it for whole requests.

Pillow is imported only when an image is really resized: ``import
doubao_vision`` never imports it. pillow-heif, where installed, adds HEIC/HEIF.
This module does not import ``_images`` at run time (``Image.resized`` imports
it), so the result is built through the image's own class.
"""

from __future__ import annotations

import functools
import io
import math
import os
from typing import TYPE_CHECKING, Any

from ._exceptions import ImageError, UnsupportedImageFormatError
from ._facts import MAX_IMAGE_BYTES, MIN_SIDE

if TYPE_CHECKING:
    from ._images import Image

__all__ = ["EXTRA_HINT", "pillow", "resize_image", "target_size"]

EXTRA_HINT = "pip install 'doubao-vision[images]'"
_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_PHOTO_SOURCES = frozenset({"jpeg", "heic", "heif"})
_LINE_ART_COLORS = 4096  # a lossless source with at most this many colours stays PNG
_MIN_BUDGET = (MIN_SIDE + 1) ** 2


@functools.cache
def pillow() -> Any:
    """PIL.Image, with HEIC/HEIF registered when pillow-heif is there."""
    try:
        from PIL import Image as PILImage
    except ImportError as exc:
        raise ImportError(f"resizing images needs Pillow: {EXTRA_HINT}") from exc
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        pass  # HEIC/HEIF stay unreadable; every other format works
    else:
        register_heif_opener()
    return PILImage


def target_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio whose width x height fits ``max_pixels``.

    Never larger than the image; neither side drops to ``MIN_SIDE`` (14 px) or below.
    """
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    w = max(MIN_SIDE + 1, min(width, math.floor(width * scale)))
    h = max(MIN_SIDE + 1, min(height, math.floor(height * scale)))
    # Rounding (or the minimum side) may overshoot: trim the side that costs least.
    while w * h > max_pixels:
        if w >= h and w > MIN_SIDE + 1:
            w -= 1
        elif h > MIN_SIDE + 1:
            h -= 1
        else:
            break
    return w, h


def _has_alpha(im: Any) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info


def _pick_format(im: Any, source_format: str | None, alpha: bool) -> str:
    if alpha:
        return "webp" if source_format == "webp" else "png"
    if source_format in _PHOTO_SOURCES or source_format == "webp":
        return "webp" if source_format == "webp" else "jpeg"
    # Lossless sources: diagrams, charts and screenshots with few colours stay sharp as PNG.
    return "png" if im.getcolors(_LINE_ART_COLORS) is not None else "jpeg"


def _encode(im: Any, fmt: str, quality: int, icc: bytes | None) -> bytes:
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt in ("jpeg", "webp"):
        options["quality"] = quality
    if fmt == "webp":
        options["method"] = 4
    # Pillow holds the GIL while it encodes into a Python file object, but not while it
    # writes to a real file descriptor: an in-memory file (Linux) keeps the event loop
    # free during the encode; elsewhere BytesIO.
    memfd = getattr(os, "memfd_create", None)
    if memfd is None:  # pragma: no cover - not Linux
        out = io.BytesIO()
        im.save(out, _FORMATS[fmt], **options)
        return out.getvalue()
    with open(memfd("doubao-vision-image", os.MFD_CLOEXEC), "w+b") as file:
        im.save(file, _FORMATS[fmt], **options)
        file.seek(0)
        return file.read()


def resize_image(
    image: Image, max_pixels: int, *, format: str | None = None, quality: int = 85
) -> Image:
    """``image`` scaled down so width x height <= ``max_pixels``, ready to send.

    The EXIF orientation is applied first (the result is upright and carries no
    orientation tag), alpha is kept (PNG, or WebP for a WebP source), photos are
    re-encoded as JPEG (WebP stays WebP) and lossless sources with few colours
    (line art, charts) as PNG. An image that already fits, is under 10 MB and
    is in the asked ``format`` is returned as itself, byte for byte; it is never
    upscaled. If the encoded result is still over 10 MB, the quality, then the
    size, is lowered until it fits. Blocking and CPU-bound: run it in a thread
    (``_prepare.prepare_images`` does).

    Args:
        image: an inline image.
        max_pixels: the pixel budget, at least 225 (15 x 15).
        format: ``jpeg``, ``png`` or ``webp``; ``None`` picks as above.
        quality: JPEG/WebP quality, 1-95.

    Raises:
        ImportError: Pillow is not installed.
        ImageError: a remote image, a bad argument, or bytes Pillow cannot decode.
    """
    if image.url is not None:
        raise ImageError(
            f"{image.source} is a remote image; only inline images can be resized",
            source=image.source,
        )
    if max_pixels < _MIN_BUDGET:
        raise ImageError(
            f"max_pixels must be at least {_MIN_BUDGET}, got {max_pixels}", source=image.source
        )
    if format is not None and format not in _FORMATS:
        raise ImageError(
            f"format must be one of {sorted(_FORMATS)} or None, got {format!r}",
            source=image.source,
        )
    if not 1 <= quality <= 95:
        raise ImageError(f"quality must be in [1, 95], got {quality}", source=image.source)
    keep = image.nbytes <= MAX_IMAGE_BYTES and format in (None, image.format)
    fits = image.width and image.height and image.width * image.height <= max_pixels
    if keep and fits:
        return image
    pil = pillow()
    try:
        return _resize(pil, image, max_pixels, format, quality, keep)
    except (OSError, SyntaxError, ValueError, pil.DecompressionBombError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise UnsupportedImageFormatError(
            f"{image.source} cannot be decoded for resizing: {exc}", source=image.source
        ) from exc


def _resize(
    pil: Any, image: Image, max_pixels: int, format: str | None, quality: int, keep: bool
) -> Image:
    with pil.open(io.BytesIO(image.data or b"")) as im:
        orientation = im.getexif().get(0x0112, 1)
        width, height = im.size
        if orientation in (5, 6, 7, 8):  # rotated a quarter turn: sides swap
            width, height = height, width
        if keep and width * height <= max_pixels:
            return image  # its size was unknown from the header, and it fits
        w, h = target_size(width, height, max_pixels)
        if im.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: a fraction of the time and memory.
            im.draft(im.mode, (h, w) if orientation in (5, 6, 7, 8) else (w, h))
        im.load()  # Pillow releases the GIL while it decodes; a copy() would not
        frame = im
        if orientation in range(2, 9):
            from PIL import ImageOps

            frame = ImageOps.exif_transpose(im)
        alpha = _has_alpha(frame)
        if alpha or frame.mode not in ("RGB", "L"):
            frame = frame.convert("RGBA" if alpha else "RGB")
        return _encode_to_fit(pil, image, frame, (w, h), format, quality, alpha)


def _encode_to_fit(
    pil: Any,
    image: Image,
    frame: Any,
    size: tuple[int, int],
    format: str | None,
    quality: int,
    alpha: bool,
) -> Image:
    icc = frame.info.get("icc_profile")
    # Over 10 MB once encoded (a noisy PNG, a huge budget): lossy beats too large, then
    # lower quality, then fewer pixels.
    (w, h), want, scale_down = size, format, 1.0
    for attempt in range(8):
        size = target_size(w, h, int(w * h * scale_down)) if scale_down < 1 else (w, h)
        small = frame if frame.size == size else frame.resize(size, pil.Resampling.LANCZOS)
        fmt = want or _pick_format(small, image.format, alpha)
        step_quality = max(40, quality - 15 * attempt)
        data = _encode(small, fmt, step_quality, icc)
        if len(data) <= MAX_IMAGE_BYTES:
            return type(image)._inline(data, image.source)
        if fmt == "png" and format is None:
            want = "webp" if alpha else "jpeg"
        elif step_quality == 40:
            scale_down *= 0.5
    raise ImageError(f"{image.source} could not be made smaller than 10 MB", source=image.source)
