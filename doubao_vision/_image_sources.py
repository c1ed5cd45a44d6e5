"""Where an image comes from: local files (``~`` expanded, ``file://`` URLs) and URL schemes.

Errors say what the input was taken for: a directory is "a directory, not an
image file"; a missing name without an image extension is "neither an image
file nor an http(s) or data: image URL"; ``ftp://``, ``s3://`` and other
schemes are "unsupported URL scheme".
"""

from __future__ import annotations

import errno
import os
import re
import stat

from ._exceptions import ImageError, ImageNotFoundError
from ._facts import IMAGE_SUFFIXES, MAX_IMAGE_BYTES
from ._image_limits import too_large

__all__ = ["SCHEME", "file_url_path", "read_file", "unsupported_scheme"]

SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


# os.open and os.read, not open(): no FileIO and BufferedReader objects, and four
# system calls for an image file instead of eight (open() also asks isatty and
# where the file position is, and reads once more to see the end): ~3 us less a
# file, ~25% of reading a 100 KB image (benchmarks/, the small-path row).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_file(source: str, *, check: bool) -> bytes:
    path = os.path.expanduser(source)
    try:
        fd = os.open(path, _OPEN_FLAGS)
        try:
            status = os.fstat(fd)
            if stat.S_ISDIR(status.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            if check:
                _check_size_early(status.st_size, source)
            return _read_all(fd, status)
        finally:
            os.close(fd)
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


def _read_all(fd: int, status: os.stat_result) -> bytes:
    """The whole file: one read for a regular file (it reads short only at its end),
    reads until the end for anything else (a pipe, a character device)."""
    size = status.st_size
    first = os.read(fd, size + 1)
    if stat.S_ISREG(status.st_mode) and len(first) <= size:
        return first
    parts = [first]
    while part := os.read(fd, max(size, 1 << 16)):
        parts.append(part)
    return b"".join(parts)


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
