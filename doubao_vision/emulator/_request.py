"""Validate a chat request the way Ark does and reduce it to what the answer needs.

Every refusal is an :class:`ApiError` whose ``param`` names the offending path, such
as ``messages[0].content[1].image_url.detail``.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

# The image header reader is the SDK's (reading sizes is code, not a fact); every limit
# it is checked against comes from the emulator's own copy in ._facts.
from .._exceptions import ImageError, UnsupportedImageFormatError
from .._images import inspect_image
from ._decode import DecodeCache, Undecodable, decode_data_url
from ._facts import (
    DETAIL_TOKEN_CAPS,
    DETAILS,
    FORMAT_ALIASES,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MIN_PIXELS,
    MIN_SIDE,
    PIXEL_LIMIT,
    PIXELS_PER_TOKEN,
    UNKNOWN_SIZE_TOKENS,
    known_model,
)
from ._options import check_parameters, json_schema, stop_strings, tool_plan
from ._wire import ApiError, bad

__all__ = ["ChatRequest", "ImagePart", "parse_chat"]

_ROLES = ("system", "user", "assistant", "tool")


@attrs.frozen(slots=True)
class ImagePart:
    """One image as the answer reports it: inline facts, or the URL it was given."""

    detail: str
    url: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None
    sha256: str | None = None

    @property
    def tokens(self) -> int:
        if self.width is None or self.height is None:
            return UNKNOWN_SIZE_TOKENS
        cap = DETAIL_TOKEN_CAPS.get(self.detail, DETAIL_TOKEN_CAPS["low"])
        return min(math.ceil(self.width * self.height / PIXELS_PER_TOKEN), cap)


@attrs.frozen
class ChatRequest:
    """What a valid request asks for, reduced to what the answer is made of.

    ``prompt``, ``images`` and ``videos`` come from the last user message;
    ``text_chars``, ``image_tokens``, ``turns`` (assistant messages) and
    ``image_count_total`` count every message. ``tool_name`` is the tool this
    answer calls (None: answer in text); ``tool_result`` is the last message's text
    when that message is a tool result.
    """

    model: str
    stream: bool
    include_usage: bool
    prompt: str
    images: tuple[ImagePart, ...]
    videos: tuple[int | float, ...]
    text_chars: int
    image_tokens: int
    json_mode: bool
    thinking: bool
    tool_name: str | None
    max_tokens: int | None
    max_completion_tokens: int | None
    # How far a conversation has gone: assistant turns so far, images in every message.
    turns: int = 0
    image_count_total: int = 0
    schema: Any = None  # response_format.json_schema.schema, for json_schema answers
    tool_parameters: Any = None  # the called tool's parameters schema
    tool_result: str | None = None
    stop: tuple[str, ...] = ()


_bad = bad  # the short name every check here uses


def _count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(name, f"The parameter `{name}` must be a non-negative integer.")
    return value


def parse_chat(body: Any, cache: DecodeCache, models: frozenset[str] = frozenset()) -> ChatRequest:
    """Check ``body`` and reduce it; decoded images land in ``cache``.

    Args:
        models: model ids accepted besides the known Doubao ones.

    Raises:
        ApiError: 400 for a bad field, 404 for a model Ark would not find.
    """
    if not isinstance(body, dict):
        raise _bad("", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad(
            "model", "The request is missing the required parameter `model`.", "MissingParameter"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad(
            "messages",
            "The request is missing the required parameter `messages`.",
            "MissingParameter",
        )
    if not known_model(model, models):
        raise ApiError(
            404,
            "InvalidEndpointOrModel.NotFound",
            f"The model or endpoint {model} does not exist or you do not have access to it.",
            "model",
        )
    check_parameters(body)
    max_tokens = _count(body, "max_tokens")
    max_completion_tokens = _count(body, "max_completion_tokens")
    if max_tokens is not None and max_completion_tokens is not None:
        raise _bad(
            "max_completion_tokens",
            "`max_tokens` and `max_completion_tokens` cannot be set together.",
        )

    text_chars = 0
    image_tokens = 0
    turns = 0
    image_count_total = 0
    last_user: tuple[list[str], list[ImagePart], list[int | float]] = ([], [], [])
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(where, f"`{where}` must be an object.")
        role = message.get("role")
        if role not in _ROLES:
            raise _bad(f"{where}.role", f"`{where}.role` must be one of {', '.join(_ROLES)}.")
        texts: list[str] = []
        images: list[ImagePart] = []
        videos: list[int | float] = []
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                _parse_part(part, f"{where}.content[{j}]", cache, texts, images, videos)
        elif not (content is None and role == "assistant"):
            raise _bad(
                f"{where}.content", f"`{where}.content` must be a string or a list of parts."
            )
        text_chars += sum(map(len, texts))
        image_tokens += sum(image.tokens for image in images)
        image_count_total += len(images)
        turns += role == "assistant"
        if role == "user":
            last_user = (texts, images, videos)

    texts, images, videos = last_user
    # A tool result last means the model has what it asked for: it answers in text.
    tool_result = _tool_result(messages[-1])
    fmt = _response_format(body)
    tool_name, tool_parameters = tool_plan(body, after_tool_result=tool_result is not None)
    return ChatRequest(
        model=model,
        stream=_flag(body, "stream"),
        include_usage=_include_usage(body),
        prompt=" ".join(text for text in texts if text),
        images=tuple(images),
        videos=tuple(videos),
        text_chars=text_chars,
        image_tokens=image_tokens,
        json_mode=fmt != "text",
        thinking=_thinking(body),
        tool_name=tool_name,
        max_tokens=max_tokens,
        max_completion_tokens=max_completion_tokens,
        turns=turns,
        image_count_total=image_count_total,
        schema=json_schema(body) if fmt == "json_schema" else None,
        tool_parameters=tool_parameters,
        tool_result=tool_result,
        stop=stop_strings(body),
    )


def _tool_result(message: dict[str, Any]) -> str | None:
    """The text of ``message`` if it is a tool result, else None."""
    if message.get("role") != "tool":
        return None
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _parse_part(
    part: Any,
    where: str,
    cache: DecodeCache,
    texts: list[str],
    images: list[ImagePart],
    videos: list[int | float],
) -> None:
    if not isinstance(part, dict):
        raise _bad(where, f"`{where}` must be an object.")
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise _bad(f"{where}.text", f"`{where}.text` must be a string.")
        texts.append(text)
    elif kind == "image_url":
        images.append(_parse_image(part.get("image_url"), f"{where}.image_url", cache))
    elif kind == "video_url":
        videos.append(_parse_video(part.get("video_url"), f"{where}.video_url", cache))
    else:
        raise _bad(f"{where}.type", f"`{where}.type` {kind!r} is not text, image_url or video_url.")


def _parse_image(holder: Any, where: str, cache: DecodeCache) -> ImagePart:
    if not isinstance(holder, dict):
        raise _bad(where, f"`{where}` must be an object with a `url`.")
    detail = holder.get("detail")
    if detail is not None and detail not in DETAILS:
        raise _bad(
            f"{where}.detail",
            f"The image detail {detail!r} is invalid; only auto, high and low are accepted.",
            "InvalidArgumentError.InvalidImageDetail",
        )
    _check_pixel_limit(holder.get("image_pixel_limit"), f"{where}.image_pixel_limit")
    url = holder.get("url")
    if url is None or url == "":
        raise _bad(f"{where}.url", "The image URL is empty.", "InvalidImageURL.EmptyURL")
    if not isinstance(url, str):
        raise _bad(f"{where}.url", f"`{where}.url` must be a string.")
    detail = detail or "low"
    if url.startswith(("http://", "https://")):
        return ImagePart(detail, url=url)
    return _inline_image(url, detail, f"{where}.url", cache)


def _check_pixel_limit(limit: Any, where: str) -> None:
    if limit is None:
        return
    low, high = PIXEL_LIMIT
    ok = isinstance(limit, dict)
    if ok:
        lo, hi = limit.get("min_pixels", low), limit.get("max_pixels", high)
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
        ok = ok and low <= lo <= hi <= high
    if not ok:
        raise _bad(
            where,
            f"image_pixel_limit must satisfy {low} <= min_pixels <= max_pixels <= {high}.",
            "InvalidArgumentError.InvalidPixelLimit",
        )


def _invalid_format(where: str, why: str) -> ApiError:
    return _bad(where, f"The image URL is invalid: {why}.", "InvalidImageURL.InvalidFormat")


def _inline_image(url: str, detail: str, where: str, cache: DecodeCache) -> ImagePart:
    if not url.startswith("data:"):
        raise _invalid_format(where, "only http(s) URLs and base64 data URLs are accepted")
    decoded = decode_data_url(url, cache)
    if isinstance(decoded, Undecodable):
        raise _invalid_format(where, decoded.reason)
    if decoded.kind != "image" or decoded.subtype != decoded.subtype.lower():
        raise _invalid_format(where, "the media type must be image/<lowercase format>")
    try:
        info = inspect_image(decoded.data, source=where)
    except UnsupportedImageFormatError:
        raise _invalid_format(where, "the bytes are not an image of a supported format") from None
    except ImageError as exc:
        raise _bad(where, str(exc)) from None
    declared = FORMAT_ALIASES.get(decoded.subtype, decoded.subtype)
    if declared != info.format:
        raise _invalid_format(
            where, f"it declares {decoded.subtype} but the bytes are {info.format}"
        )
    size = len(decoded.data)
    if size > MAX_IMAGE_BYTES:
        raise _bad(where, f"The image is {size} bytes; the limit is {MAX_IMAGE_BYTES} bytes.")
    w, h = info.width, info.height
    if (w is not None and w <= MIN_SIDE) or (h is not None and h <= MIN_SIDE):
        raise _bad(where, f"The image is {w}x{h}; both sides must exceed {MIN_SIDE} px.")
    if w is not None and h is not None and not MIN_PIXELS <= w * h <= MAX_PIXELS:
        raise _bad(where, f"The image has {w * h} pixels; allowed is [{MIN_PIXELS}, {MAX_PIXELS}].")
    return ImagePart(
        detail, format=info.format, width=w, height=h, size=size, sha256=decoded.sha256
    )


def _parse_video(holder: Any, where: str, cache: DecodeCache) -> int | float:
    if not isinstance(holder, dict):
        raise _bad(where, f"`{where}` must be an object with a `url`.")
    url = holder.get("url")
    if not isinstance(url, str) or not url:
        raise _bad(f"{where}.url", "The video URL is empty.", "InvalidParameter")
    if url.startswith("data:"):
        decoded = decode_data_url(url, cache)
        if isinstance(decoded, Undecodable) or decoded.kind != "video":
            raise _bad(f"{where}.url", "The video must be a data:video/<format>;base64 URL.")
    fps = holder.get("fps", 1)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0.2 <= fps <= 5:
        raise _bad(f"{where}.fps", "`fps` must be a number in [0.2, 5].")
    return fps


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(name, f"`{name}` must be a boolean.")
    return bool(value)


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise _bad("stream_options", "`stream_options` must be an object.")
    return options.get("include_usage") is True


def _response_format(body: dict[str, Any]) -> str:
    fmt = body.get("response_format")
    if fmt is None:
        return "text"
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise _bad(
            "response_format.type",
            "`response_format.type` must be text, json_object or json_schema.",
        )
    return str(kind)


def _thinking(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    if thinking is None:
        return False
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "auto"):
        raise _bad("thinking.type", "`thinking.type` must be enabled, disabled or auto.")
    return bool(kind == "enabled")
