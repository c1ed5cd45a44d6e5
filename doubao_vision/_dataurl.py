"""The data-URL fast path: read an image's facts without decoding its base64.

A user migrating from the openai SDK sends ``data:image/png;base64,...`` URLs.
Decoding a 100 KB URL whole only to sniff its header, then encoding it again
into the body, was most of the client's CPU per request. Here the base64 is
checked with one ``bytes.translate`` (several times cheaper than decoding),
the header is parsed from a decoded prefix of a few hundred characters, the
size comes from the length and padding, and the user's own ``str`` is kept (no
copy) to be written into the body as it is.

Only canonical base64 takes this path (no whitespace, ``=`` only as final
padding, zero bits in the padding), because only then is the kept text
byte-identical to what the slow path's re-encoding would write. Anything else,
and any header that is unknown, corrupt or truncated, returns ``None`` and the
caller decodes it whole, so errors are the slow path's own.
``tests/test_images_dataurl.py`` proves the two paths equal (Hypothesis).
"""

from __future__ import annotations

import binascii
import re

from ._exceptions import ImageError
from ._image_headers import BadHeader, ImageInfo, Truncated, parse_header, sniff

__all__ = ["declared_format", "parse_data_url"]

_ALIASES = {"jpg": "jpeg", "tif": "tiff", "dib": "bmp"}
_HEAD = re.compile(r"data:image/([A-Za-z0-9.+-]+);base64", re.ASCII)
_MEDIA = re.compile(r"data:([^;,]*)", re.ASCII)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INDEX = {chr(c): i for i, c in enumerate(_ALPHABET)}
_PREFIX = 512  # base64 characters decoded to read a header; grown while it is cut short
# Checked a slice at a time: the same speed as one copy of the whole URL (measured),
# without a transient copy the size of the image (13 MB for a 10 MB image).
_CHUNK = 64 * 1024
# Up to this size the URL is encoded whole for the check (~10% cheaper than slices:
# each slice is copied twice, as a str and as bytes); beyond it, slices.
_WHOLE = 1 << 20


def declared_format(head: str) -> str:
    """The format a data URL's head (before the comma) declares, aliases resolved.

    Raises:
        ImageError: not ``data:image/<fmt>;base64``.
    """
    match = _HEAD.fullmatch(head)
    if match is None:
        media = _MEDIA.match(head)
        kind = media.group(1) if media else ""
        if kind and not kind.lower().startswith("image/"):
            why = f"is not an image (its media type is {kind[:40]!r})"
        else:
            why = f"must look like data:image/<fmt>;base64,<data>, not {head[:60]!r}"
        raise ImageError(f"<data URL> {why}", source="<data URL>")
    declared = match.group(1).lower()
    return _ALIASES.get(declared, declared)


def _canonical(url: str, start: int) -> bool:
    """``url[start:]`` is canonical base64 (``url`` is ASCII and its head has no comma).

    One pass over the whole URL: ``bytes.translate`` deleting the alphabet is the
    cheapest full check measured (str methods, ``re``, strict ``a2b_base64`` and
    ``bytes.isalnum`` after two ``replace`` are 2-6x slower). It needs bytes, so
    the URL is encoded (a memcpy for an ASCII str) whole up to 1 MiB, beyond that a
    slice at a time, and dropped.
    """
    size = len(url) - start
    if not size or size % 4:
        return False
    # What is outside the alphabet: the head's punctuation up to its comma (the
    # first comma in the URL), then the payload's, which may only be "=" or "==".
    if len(url) <= _WHOLE:  # one copy of the text, not a str slice and its bytes per slice
        leftover = url.encode("ascii").translate(None, _ALPHABET)
    else:
        leftover = b"".join(
            url[at : at + _CHUNK].encode("ascii").translate(None, _ALPHABET)
            for at in range(0, len(url), _CHUNK)
        )
    padding = len(leftover) - leftover.index(b",") - 1
    if padding > 2 or not leftover.endswith(b"=" * padding):
        return False
    if not padding:
        return True
    if not url.endswith("=" * padding):
        return False
    # The unused low bits of the last character must be zero.
    return not _INDEX[url[-1 - padding]] & (0b1111 if padding == 2 else 0b11)


def parse_data_url(url: str) -> tuple[str, ImageInfo, int] | None:
    """``(declared format, header facts, where the base64 starts in url)``, or ``None``
    for the slow path.

    The caller keeps ``url`` itself: the user's dict holds it anyway, and an ASCII
    ``str`` costs one byte a character, so no copy lives as long as the request.

    Raises:
        ImageError: the head is not ``data:image/<fmt>;base64`` (as the slow path would).
    """
    comma = url.find(",")
    declared = declared_format(url[:comma] if comma >= 0 else url)
    if comma < 0 or not url.isascii():  # isascii is O(1) on a str: a flag
        return None
    start = comma + 1
    if not _canonical(url, start):
        return None
    end = len(url)
    length = _PREFIX
    while True:
        # a2b_base64 takes an ASCII str: only the prefix is copied.
        prefix = binascii.a2b_base64(url[start : start + length])
        fmt = sniff(prefix[:64])
        if fmt is None:
            return None
        try:
            with memoryview(prefix) as buf:
                width, height = parse_header(fmt, buf)
        except Truncated:
            if start + length >= end:
                return None
            length *= 8  # an EXIF block before a JPEG's frame header can be 64 KB
            continue
        except BadHeader:
            return None
        return declared, ImageInfo(fmt, width, height), start
