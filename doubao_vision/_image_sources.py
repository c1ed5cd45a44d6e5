"""Where an image comes from: local files (``~`` expanded, ``file://`` URLs) and URL schemes.

Errors say what the input was taken for: a directory is "a directory, not an
image file"; a missing name without an image extension is "neither an image
file nor an http(s) or data: image URL"; ``ftp://``, ``s3://`` and other
schemes are "unsupported URL scheme".
"""

from __future__ import annotations

import os
import re

from ._exceptions import ImageError, ImageNotFoundError
from ._facts import IMAGE_SUFFIXES, MAX_IMAGE_BYTES
from ._image_limits import too_large

__all__ = ["SCHEME", "file_url_path", "read_file", "unsupported_scheme"]

SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def read_file(source: str, *, check: bool) -> bytes:
    path = os.path.expanduser(source)
    try:
        with open(path, "rb") as f:
            if check:
                _check_size_early(os.fstat(f.fileno()).st_size, source)
            return f.read()
    except IsADirectoryError as exc:
        raise ImageNotFoundError(
            f"image file {source!r} cannot be read: it is a directory, not an image file",
            source=source,
        ) from exc
    except OSError as exc:
        detail = exc.strerror or type(exc).__name__
        if not isinstance(exc, FileNotFoundError):
            reason = "cannot be read"
        elif source.lower().endswith(IMAGE_SUFFIXES):
            reason = "not found"
        else:
            reason = "not found; it is neither an image file nor an http(s) or data: image URL"
        raise ImageNotFoundError(
            f"image file {source!r} {reason} ({detail})", source=source
        ) from exc


def _check_size_early(size: int, source: str) -> None:
    # From the file size, before reading 100 MB only to refuse it.
    if size > MAX_IMAGE_BYTES:
        raise too_large(size, source)


def unsupported_scheme(url: str) -> ImageError:
    match = SCHEME.match(url)
    scheme = match.group(1).lower() if match else url.partition(":")[0][:20]
    return ImageError(
        f"unsupported URL scheme {scheme!r} in image URL {url[:80]!r}; use http://, https://, "
        "data:image/..., file:// or a local path",
        source=url[:80],
    )


def file_url_path(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ImageError(
            f"file URL {url[:80]!r} names host {parts.netloc!r}; only local files can be read",
            source=url[:80],
        )
    if os.name == "nt":  # pragma: no cover - Windows drive letters and backslashes
        from nturl2path import url2pathname

        return url2pathname(parts.path)
    return unquote(parts.path)
