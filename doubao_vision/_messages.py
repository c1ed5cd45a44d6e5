"""Request-side attrs classes: content parts, messages, and their short builders.

Validators mirror the limits the API enforces, so bad input fails here, with an
:class:`InvalidRequestError`, before a byte is sent.
"""

from __future__ import annotations

import os
from types import MappingProxyType
from typing import Any, Literal

import attrs

from ._exceptions import InvalidRequestError
from ._facts import IMAGE_SUFFIXES, MAX_IMAGE_PIXEL_LIMIT, MIN_IMAGE_PIXEL_LIMIT
from ._images import Image, ImageInput, to_image
from ._validate import one_of

__all__ = [
    "MAX_IMAGE_PIXEL_LIMIT",
    "MIN_IMAGE_PIXEL_LIMIT",
    "AssistantMessage",
    "ContentPart",
    "Detail",
    "FunctionCall",
    "ImagePart",
    "ImagePixelLimit",
    "ImageURL",
    "Message",
    "SystemMessage",
    "TextPart",
    "ToolCall",
    "ToolMessage",
    "UserMessage",
    "VideoPart",
    "VideoURL",
    "assistant",
    "system",
    "tool",
    "user",
]

Detail = Literal["low", "high", "auto"]
DETAILS: frozenset[str] = frozenset({"low", "high", "auto"})
NO_EXTRA: MappingProxyType[str, Any] = MappingProxyType({})


def _url_for_image(value: str | Image) -> str | Image:
    """Keep http(s) URLs as text; check a data URL's bytes now, as the API would."""
    if isinstance(value, Image):
        return value
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"image_url.url must be a str or Image, got {type(value).__name__}"
        )
    if value.startswith("data:"):
        return Image.from_url(value)
    if value.startswith(("http://", "https://")) and value.strip() == value and len(value) > 8:
        return value
    raise InvalidRequestError(
        f"image_url.url must be an http(s) URL or a data:image/... URL, got {value[:60]!r}"
    )


@attrs.frozen
class ImagePixelLimit:
    """Bounds the pixels the server rescales an image to: 3136 <= min <= max <= 4,014,080.

    It takes precedence over ``detail``.
    """

    min_pixels: int | None = None
    max_pixels: int | None = None

    def __attrs_post_init__(self) -> None:
        low = MIN_IMAGE_PIXEL_LIMIT if self.min_pixels is None else self.min_pixels
        high = MAX_IMAGE_PIXEL_LIMIT if self.max_pixels is None else self.max_pixels
        if not MIN_IMAGE_PIXEL_LIMIT <= low <= high <= MAX_IMAGE_PIXEL_LIMIT:
            raise InvalidRequestError(
                "image_pixel_limit must satisfy 3136 <= min_pixels <= max_pixels <= 4014080, "
                f"got min_pixels={self.min_pixels}, max_pixels={self.max_pixels}"
            )


@attrs.frozen
class ImageURL:
    """An image reference: an http(s) URL, a data URL, or an :class:`Image`.

    An ``Image`` (and a data URL, which becomes one) is written into the request
    body straight from its bytes when the request is sent.
    """

    url: str | Image = attrs.field(converter=_url_for_image)
    detail: Detail | None = attrs.field(default=None, validator=one_of(DETAILS))
    image_pixel_limit: ImagePixelLimit | None = None


@attrs.frozen
class TextPart:
    text: str
    type: Literal["text"] = "text"


@attrs.frozen
class ImagePart:
    image_url: ImageURL
    type: Literal["image_url"] = "image_url"


def _check_fps(_: object, __: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not 0.2 <= value <= 5:
        raise InvalidRequestError(f"video fps must be in [0.2, 5], got {value!r}")


@attrs.frozen
class VideoURL:
    url: str
    fps: float | None = attrs.field(default=None, validator=_check_fps)


@attrs.frozen
class VideoPart:
    video_url: VideoURL
    type: Literal["video_url"] = "video_url"


ContentPart = TextPart | ImagePart | VideoPart


@attrs.frozen
class FunctionCall:
    name: str | None = None
    arguments: str = ""
    extra: MappingProxyType[str, Any] = attrs.field(default=NO_EXTRA, repr=False, eq=False)


@attrs.frozen
class ToolCall:
    id: str
    function: FunctionCall
    type: str = "function"
    extra: MappingProxyType[str, Any] = attrs.field(default=NO_EXTRA, repr=False, eq=False)


@attrs.frozen
class SystemMessage:
    content: str | list[TextPart]
    name: str | None = None
    role: Literal["system"] = "system"


@attrs.frozen
class UserMessage:
    content: str | list[ContentPart]
    name: str | None = None
    role: Literal["user"] = "user"


@attrs.frozen
class AssistantMessage:
    """An assistant turn: what a completion returns, and what you send back as history.

    ``reasoning_content`` is never sent back (the API does not take it as input).
    """

    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[ToolCall] | None = None
    name: str | None = None
    role: Literal["assistant"] = "assistant"
    extra: MappingProxyType[str, Any] = attrs.field(default=NO_EXTRA, repr=False, eq=False)


@attrs.frozen
class ToolMessage:
    content: str
    tool_call_id: str
    role: Literal["tool"] = "tool"


Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage


def user(
    *content: str | ImageInput | ContentPart,
    detail: Detail | None = None,
    image_pixel_limit: ImagePixelLimit | None = None,
) -> UserMessage:
    """A user turn from text and images in order, e.g. ``user("What is this?", "cat.png")``.

    Args:
        content: text, images (an :class:`Image`, a ``pathlib.Path``, ``bytes``,
            or a str that is an http(s)/data URL or a path ending in an image
            extension such as ``cat.png``), or ready content parts. Any other
            ``str`` is text; wrap it in :class:`TextPart` (or a path in
            ``pathlib.Path``) to be explicit.
        detail: ``low``/``high``/``auto`` for every image given here.
        image_pixel_limit: pixel bounds for every image given here.

    Raises:
        ImageError: an image is missing, unreadable, of an unknown format, or
            outside the size limits.
    """
    parts: list[ContentPart] = []
    for item in content:
        if isinstance(item, (TextPart, ImagePart, VideoPart)):
            parts.append(item)
        elif isinstance(item, str) and not _looks_like_image_ref(item):
            parts.append(TextPart(item))
        else:
            image = to_image(item)
            parts.append(ImagePart(ImageURL(image, detail, image_pixel_limit)))
    return UserMessage(parts)


def _looks_like_image_ref(text: str) -> bool:
    """A URL, or a path: one line ending in an image extension, either naming a
    directory or holding no spaces ("cat.png", "shots/day 1.jpg").

    Decided from the text alone: no stat() per prompt, and a mistyped file name
    is an ImageNotFoundError rather than a question sent about nothing.
    """
    if text.startswith(("http://", "https://", "data:image/")):
        return True
    if len(text) > 4096 or "\n" in text or not text.lower().endswith(IMAGE_SUFFIXES):
        return False
    return " " not in text or "/" in text or os.sep in text


def system(text: str) -> SystemMessage:
    return SystemMessage(text)


def assistant(text: str) -> AssistantMessage:
    return AssistantMessage(text)


def tool(content: str, tool_call_id: str) -> ToolMessage:
    return ToolMessage(content, tool_call_id)
