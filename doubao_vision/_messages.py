"""Request-side attrs classes: content parts, messages, and their short builders.

Validators mirror the limits the API enforces, so bad input fails here, with an
:class:`InvalidRequestError`, before a byte is sent.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

from ._exceptions import ImageNotFoundError, InvalidRequestError
from ._facts import (
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXEL_LIMIT,
    MIN_IMAGE_PIXEL_LIMIT,
    MODELS,
    RETIRED_MODELS,
)
from ._images import Image, ImageInput, to_image
from ._validate import one_of

__all__ = [
    "MAX_IMAGE_PIXEL_LIMIT",
    "MIN_IMAGE_PIXEL_LIMIT",
    "AssistantMessage",
    "ContentPart",
    "Detail",
    "Extra",
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
    "load_image_argument",
    "model_like",
    "system",
    "tool",
    "user",
]

Detail = Literal["low", "high", "auto"]
DETAILS: frozenset[str] = frozenset({"low", "high", "auto"})


class Extra(Mapping[str, Any]):
    """Fields the server sent that we do not model: read-only, and (unlike
    ``types.MappingProxyType``) it pickles and deep-copies."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data) if data else {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Extra({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Extra, (self._data,)


NO_EXTRA = Extra()


def _url_for_image(value: str | Image) -> str | Image:
    """Keep http(s) URLs as text; check a data URL's bytes now, as the API would."""
    if isinstance(value, Image):
        return value
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"image_url.url must be a str or Image, got {type(value).__name__}"
        )
    if value.startswith("data:"):
        return Image.from_url(value, check=False)  # limits: checked or resized at send
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
    extra: Extra = attrs.field(default=NO_EXTRA, repr=False, eq=False)


@attrs.frozen
class ToolCall:
    id: str
    function: FunctionCall
    type: str = "function"
    extra: Extra = attrs.field(default=NO_EXTRA, repr=False, eq=False)


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
    extra: Extra = attrs.field(default=NO_EXTRA, repr=False, eq=False)


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
            or a str that is an http(s)/data/file URL or a path ending in an image
            extension such as ``cat.png``), or ready content parts. Any other
            ``str`` is text; wrap it in :class:`TextPart` (or a path in
            ``pathlib.Path``) to be explicit.
        detail: ``low``/``high``/``auto`` for every image given here.
        image_pixel_limit: pixel bounds for every image given here.

    Raises:
        ImageError: an image is missing, unreadable or of an unknown format.
            The size limits (10 MB, 36 MP) are checked when the request is
            sent, before anything is uploaded, or the image is resized to fit
            (``AsyncClient(resize_images=True)``).
        InvalidRequestError: a str that could be either (a folder's path, a
            data URL that is not an image, a sentence ending in ``cat.png``
            when no such file exists): say which with ``TextPart``/``Path``.
    """
    parts: list[ContentPart] = []
    for item in content:
        if isinstance(item, (TextPart, ImagePart, VideoPart)):
            parts.append(item)
        elif isinstance(item, str) and not _is_image_ref(item):
            parts.append(TextPart(item))
        else:
            image = to_image(item, check=False)  # limits: checked or resized at send
            parts.append(ImagePart(ImageURL(image, detail, image_pixel_limit)))
    return UserMessage(parts)


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _is_image_ref(text: str) -> bool:
    """Is this str an image (a URL or a path) rather than text? Refuses to guess.

    Decided from the text, with a stat() only for the few strs that could be
    either: a mistyped file name is an ImageNotFoundError rather than a question
    sent about nothing.
    """
    if text.startswith(("http://", "https://", "data:image/", "file://")):
        return True
    if text.startswith("data:"):
        raise InvalidRequestError(
            f"{text[:40]!r}... is a data URL but not an image (data:image/<fmt>;base64,...); "
            "wrap it in TextPart to send it as text"
        )
    if len(text) > 4096 or "\n" in text:
        return False
    if _URL_SCHEME.match(text):
        return True  # ftp://, s3://: to_image says the scheme is not supported
    pathlike = "/" in text or os.sep in text or text.startswith("~")
    if text.lower().endswith(IMAGE_SUFFIXES):
        if " " not in text or pathlike:
            return True
        if os.path.isfile(os.path.expanduser(text)):
            return True
        raise InvalidRequestError(
            f"{text[:80]!r} ends in an image extension but no such file exists: wrap it in "
            "TextPart(...) to send it as text, or pass a pathlib.Path for a file"
        )
    if pathlike and " " not in text and os.path.isdir(os.path.expanduser(text)):
        raise InvalidRequestError(
            f"{text!r} is a folder, not an image: pass its image files (or TextPart(...) "
            "to send the text as it is)"
        )
    return False


async def load_image_argument(value: object, position: int) -> Image:
    """An image argument of ``ask(prompt, *images)``; files are read in a worker thread.

    Every argument in image position must be an image: a str that is neither
    an existing file nor an image URL is an error naming it, never text.
    """
    where = f"ask(prompt, *images): image argument {position}"
    if isinstance(value, str):
        text = value.strip()
        if _URL_SCHEME.match(text) or text.startswith("data:"):
            return to_image(text, check=False)
        return await asyncio.to_thread(_image_file_argument, text, where)
    if isinstance(value, os.PathLike):
        return await Image.aload(value, check=False)
    if isinstance(value, (Image, bytes, bytearray, memoryview)):
        return to_image(value, check=False)
    raise InvalidRequestError(
        f"{where} must be a path, a URL, bytes or an Image, not {type(value).__name__}"
    )


def _image_file_argument(text: str, where: str) -> Image:
    path = os.path.expanduser(text)
    if os.path.isfile(path):
        return Image.from_path(path, check=False)
    if os.path.isdir(path):
        raise ImageNotFoundError(f"{where}, {text!r}, is a folder, not an image", source=text)
    if model_like(text):
        hint = f"it looks like a model id: pass model={text!r}"
    elif not text.lower().endswith(IMAGE_SUFFIXES) or " " in text:
        hint = (
            "it is not an image file or URL: every argument after the prompt is an image "
            "(did you swap them? ask('What is this?', 'cat.png'))"
        )
    else:
        hint = "no such file"
    raise ImageNotFoundError(f"{where}, {text[:80]!r}: {hint}", source=text[:80])


def model_like(text: str) -> bool:
    """A str that names a model rather than a file (``doubao-...``, ``ep-...``)."""
    return (
        text in MODELS
        or text in RETIRED_MODELS
        or (text.startswith(("doubao-", "ep-")) and not text.lower().endswith(IMAGE_SUFFIXES))
    )


def system(text: str) -> SystemMessage:
    return SystemMessage(text)


def assistant(text: str) -> AssistantMessage:
    return AssistantMessage(text)


def tool(content: str, tool_call_id: str) -> ToolMessage:
    return ToolMessage(content, tool_call_id)
