"""OpenAI-style dict messages to attrs objects and back, by hand, for the common shapes.

A user coming from the openai SDK passes messages such as ``{"role": "user",
"content": [{"type": "text", "text": ...}, {"type": "image_url", "image_url":
{"url": "data:image/png;base64,..."}}]}``. The converter (``_serde``) structures
and unstructures them through its generated, dispatching hooks; building the
same objects directly is several times cheaper, and it runs on every request.

Only these shapes are taken, each dict exactly a ``dict`` with no other keys and
every value of exactly the expected type:

- ``user``: ``content`` a str or a list of ``text`` / ``image_url`` parts
  (``image_url``: ``url``, optional ``detail`` and ``image_pixel_limit``), optional ``name``;
- ``system``: ``content`` a str or a list of ``text`` parts, optional ``name``;
- ``assistant``: optional ``content`` (str or ``None``) and ``name``;
- ``tool``: ``content`` and ``tool_call_id``;
- message and part objects, which pass through as the converter passes them.

Anything else (a video part, tool calls, another key, a str subclass, a
constructor that raises) *declines*: :func:`structure_fast` returns ``None`` and
the caller runs the converter as before, so what it accepts and every error it
raises stay the converter's own. :func:`unstructure_fast` declines the same way.
``tests/test_fastmessages.py`` proves both equal to the converter (Hypothesis):
the same objects, the same JSON (key order included), the same errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._messages import (
    DETAILS,
    AssistantMessage,
    ImagePart,
    ImagePixelLimit,
    ImageURL,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
    VideoPart,
)

__all__ = ["structure_fast", "unstructure_fast"]


class _Decline(Exception):
    """The input is not one of the shapes taken here: the converter decides."""


_MESSAGES = (SystemMessage, UserMessage, AssistantMessage, ToolMessage)
_PARTS = (TextPart, ImagePart, VideoPart)
_CONTENT_KEYS = frozenset({"role", "content", "name"})
_ASSISTANT_KEYS = _CONTENT_KEYS
_TOOL_KEYS = frozenset({"role", "content", "tool_call_id"})
_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "image_url"})
_IMAGE_URL_KEYS = frozenset({"url", "detail", "image_pixel_limit"})
_LIMIT_KEYS = frozenset({"min_pixels", "max_pixels"})


def structure_fast(items: list[Any]) -> list[Message] | None:
    """``items`` as the converter would structure them into messages, or ``None``
    if any of them is not a shape taken here (then nothing is kept: run the converter)."""
    try:
        return [_message(item) for item in items]
    except Exception:  # a _Decline, or a constructor's error: the converter decides
        return None


def _message(item: Any) -> Message:
    if type(item) is not dict:
        if isinstance(item, _MESSAGES):  # as the converter's tagged union does
            return item
        raise _Decline
    role = item.get("role")
    if type(role) is not str:
        raise _Decline
    build = _BUILDERS.get(role)
    if build is None:
        raise _Decline
    return build(item, role)


def _name(item: dict[str, Any]) -> str | None:
    name = item.get("name")
    if name is not None and type(name) is not str:
        raise _Decline
    return name


def _user(item: dict[str, Any], role: str) -> UserMessage:
    if not item.keys() <= _CONTENT_KEYS:
        raise _Decline
    content = item["content"]
    if type(content) is list:
        content = [_user_part(part) for part in content]
    elif type(content) is not str:
        raise _Decline
    return UserMessage(content, _name(item), role)  # type: ignore[arg-type]


def _user_part(part: Any) -> Any:
    if type(part) is not dict:
        if isinstance(part, _PARTS):  # as the converter's tagged union does
            return part
        raise _Decline
    kind = part.get("type")
    if kind == "text" and type(kind) is str:
        return _text_part(part, kind)
    if kind != "image_url" or type(kind) is not str or not part.keys() <= _IMAGE_KEYS:
        raise _Decline
    spec = part["image_url"]
    if type(spec) is not dict or not spec.keys() <= _IMAGE_URL_KEYS:
        raise _Decline
    detail = spec.get("detail")
    if detail is not None and (type(detail) is not str or detail not in DETAILS):
        raise _Decline
    limit = spec.get("image_pixel_limit")
    if limit is not None:
        limit = _pixel_limit(limit)
    # ImageURL's own converter checks the URL and reads a data URL, as under cattrs.
    return ImagePart(ImageURL(spec["url"], detail, limit), kind)  # type: ignore[arg-type]


def _text_part(part: dict[str, Any], kind: str) -> TextPart:
    text = part.get("text")
    if type(text) is not str or not part.keys() <= _TEXT_KEYS:
        raise _Decline
    return TextPart(text, kind)  # type: ignore[arg-type]


def _pixel_limit(limit: Any) -> ImagePixelLimit:
    if type(limit) is not dict or not limit.keys() <= _LIMIT_KEYS:
        raise _Decline
    low = limit.get("min_pixels")
    high = limit.get("max_pixels")
    if (low is not None and type(low) is not int) or (high is not None and type(high) is not int):
        raise _Decline
    return ImagePixelLimit(low, high)


def _system(item: dict[str, Any], role: str) -> SystemMessage:
    if not item.keys() <= _CONTENT_KEYS:
        raise _Decline
    content = item["content"]
    if type(content) is list:
        parts: list[TextPart] = []
        for part in content:
            kind = part.get("type") if type(part) is dict else None
            if kind != "text" or type(kind) is not str:
                raise _Decline
            parts.append(_text_part(part, kind))
        content = parts
    elif type(content) is not str:
        raise _Decline
    return SystemMessage(content, _name(item), role)  # type: ignore[arg-type]


def _assistant(item: dict[str, Any], role: str) -> AssistantMessage:
    if not item.keys() <= _ASSISTANT_KEYS:
        raise _Decline
    content = item.get("content")
    if content is not None and type(content) is not str:
        raise _Decline
    return AssistantMessage(content, name=_name(item), role=role)  # type: ignore[arg-type]


def _tool(item: dict[str, Any], role: str) -> ToolMessage:
    content = item["content"]
    call_id = item["tool_call_id"]
    if not item.keys() <= _TOOL_KEYS or type(content) is not str or type(call_id) is not str:
        raise _Decline
    return ToolMessage(content, call_id, role)  # type: ignore[arg-type]


_BUILDERS: dict[str, Callable[[dict[str, Any], str], Message]] = {
    "user": _user,
    "system": _system,
    "assistant": _assistant,
    "tool": _tool,
}


# -- out: objects to JSON-ready dicts -------------------------------------------------
# Keys in the converter's order: fields without a default first, then the
# optional ones, each left out when None (see _serde._unstructure_omitting_none).


def unstructure_fast(messages: list[Message]) -> list[dict[str, Any]] | None:
    """``messages`` as the converter would unstructure them, or ``None`` to run it."""
    try:
        return [_UNSTRUCTURERS[type(message)](message) for message in messages]
    except Exception:  # a _Decline, or a class not listed: the converter decides
        return None


def _content(content: Any) -> Any:
    if type(content) is str:
        return content
    if type(content) is not list:
        raise _Decline
    return [_part_out(part) for part in content]


def _part_out(part: Any) -> dict[str, Any]:
    cls = type(part)
    if cls is TextPart:
        if type(part.text) is not str:
            raise _Decline
        return {"text": part.text, "type": part.type}
    if cls is not ImagePart or type(part.image_url) is not ImageURL:
        raise _Decline
    spec = part.image_url
    out: dict[str, Any] = {"url": spec.url}  # an Image goes into the JSON as itself
    if spec.detail is not None:
        out["detail"] = spec.detail
    limit = spec.image_pixel_limit
    if limit is not None:
        if type(limit) is not ImagePixelLimit:
            raise _Decline
        bounds: dict[str, Any] = {}
        if limit.min_pixels is not None:
            bounds["min_pixels"] = limit.min_pixels
        if limit.max_pixels is not None:
            bounds["max_pixels"] = limit.max_pixels
        out["image_pixel_limit"] = bounds
    return {"image_url": out, "type": part.type}


def _with_name(out: dict[str, Any], name: Any) -> dict[str, Any]:
    if name is not None:
        out["name"] = name
    return out


def _user_out(message: Any) -> dict[str, Any]:
    return _with_name({"content": _content(message.content), "role": message.role}, message.name)


def _assistant_out(message: Any) -> dict[str, Any]:
    if message.tool_calls is not None:
        raise _Decline
    out: dict[str, Any] = {"role": message.role}
    if message.content is not None:
        out["content"] = message.content
    return _with_name(out, message.name)


def _tool_out(message: Any) -> dict[str, Any]:
    return {"content": message.content, "tool_call_id": message.tool_call_id, "role": message.role}


_UNSTRUCTURERS: dict[type[Any], Callable[[Any], dict[str, Any]]] = {
    UserMessage: _user_out,
    SystemMessage: _user_out,  # the same fields, in the same order
    AssistantMessage: _assistant_out,
    ToolMessage: _tool_out,
}
