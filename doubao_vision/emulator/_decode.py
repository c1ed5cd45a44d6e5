"""Data URLs: decode once, hash once, and summarize for the request log.

Decoding is the emulator's hot path (thousands of ~100 KB images), so each URL is
decoded with one C call (``base64.b64decode(validate=True)``) and hashed once; the
result is cached per request by the URL string's identity, so validation and the
recorder share it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import attrs

__all__ = ["DecodeCache", "Decoded", "Undecodable", "decode_data_url", "summarize_body"]

# The media type is matched case-insensitively here so that a wrong case can be
# reported precisely by the validator, which requires lowercase.
_DATA_URL = re.compile(r"data:([A-Za-z]+)/([A-Za-z0-9.+-]+);base64,", re.ASCII)


@attrs.frozen(slots=True)
class Decoded:
    """A decoded data URL: ``data:<kind>/<subtype>;base64,...``."""

    kind: str
    subtype: str
    data: bytes
    sha256: str  # the first 12 hex digits, as the answers and summaries show it

    def summary(self) -> str:
        return f"<data:{self.kind}/{self.subtype} {len(self.data)} bytes sha256:{self.sha256}>"


@attrs.frozen(slots=True)
class Undecodable:
    """A data URL that could not be decoded, and why."""

    reason: str
    length: int

    def summary(self) -> str:
        return f"<data: undecodable ({self.reason}), {self.length} chars>"


DecodeCache = dict[int, "Decoded | Undecodable"]


def decode_data_url(url: str, cache: DecodeCache | None = None) -> Decoded | Undecodable:
    """Decode ``url`` (which starts with ``data:``), using and filling ``cache``."""
    if cache is not None:
        hit = cache.get(id(url))
        if hit is not None:
            return hit
    result = _decode(url)
    if cache is not None:
        cache[id(url)] = result
    return result


def _decode(url: str) -> Decoded | Undecodable:
    match = _DATA_URL.match(url)
    if match is None:
        return Undecodable("not data:<type>/<format>;base64,...", len(url))
    try:
        data = base64.b64decode(url[match.end() :], validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        return Undecodable("invalid base64", len(url))
    digest = hashlib.sha256(data).hexdigest()[:12]
    return Decoded(match.group(1), match.group(2), data, digest)


def summarize_body(body: Any, cache: DecodeCache) -> Any:
    """Replace every data URL in ``body``'s messages by a short summary, in place."""
    if not isinstance(body, dict):
        return body
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict):
                continue
            for key in ("image_url", "video_url"):
                holder = part.get(key)
                if isinstance(holder, dict):
                    url = holder.get("url")
                    if isinstance(url, str) and url.startswith("data:"):
                        holder["url"] = decode_data_url(url, cache).summary()
    return body
