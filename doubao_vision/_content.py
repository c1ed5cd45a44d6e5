"""Prompt and answer content in OpenTelemetry's GenAI message shape, for the opt-ins.

Both opt-ins (the ``doubao_vision.content`` logger and the spans'
``capture_content``) write the same shape: ``{"role": ..., "parts": [{"type":
"text", "content": ...}]}``, as in the GenAI conventions' input and output
message schemas. Images are described, never copied: a remote URL as a ``uri``
part, inline bytes as a generic ``image`` part with size, format and
dimensions. Nothing here runs unless a user opted in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._messages import AssistantMessage, ImagePart, TextPart, ToolMessage, VideoPart
from ._models import ChatCompletion

__all__ = ["input_messages", "output_messages"]


def _image_part(part: ImagePart) -> dict[str, Any]:
    url = part.image_url.url
    if isinstance(url, str):
        return {"type": "uri", "modality": "image", "uri": url}
    if url.url is not None:
        return {"type": "uri", "modality": "image", "uri": url.url}
    described: dict[str, Any] = {"type": "image", "modality": "image", "bytes": url.nbytes}
    if url.format:
        described["format"] = url.format
    if url.width and url.height:
        described["width"], described["height"] = url.width, url.height
    return described


def _parts(content: object) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, Sequence) else ():
        if isinstance(part, TextPart):
            parts.append({"type": "text", "content": part.text})
        elif isinstance(part, ImagePart):
            parts.append(_image_part(part))
        elif isinstance(part, VideoPart):
            parts.append({"type": "uri", "modality": "video", "uri": part.video_url.url})
    return parts


def input_messages(messages: Sequence[object]) -> list[dict[str, Any]]:
    """The request's messages as GenAI ``input.messages`` (text kept, images described)."""
    described = []
    for message in messages:
        parts = _parts(getattr(message, "content", None))
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls or ():
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.id,
                        "name": call.function.name,
                        "arguments": call.function.arguments,
                    }
                )
        if isinstance(message, ToolMessage):
            parts = [
                {
                    "type": "tool_call_response",
                    "id": message.tool_call_id,
                    "response": message.content,
                }
            ]
        described.append({"role": getattr(message, "role", "user"), "parts": parts})
    return described


def output_messages(completion: ChatCompletion) -> list[dict[str, Any]]:
    """The answer's choices as GenAI ``output.messages``."""
    out = []
    for choice in completion.choices:
        message = choice.message
        parts = _parts(message.content)
        if message.reasoning_content:
            parts.insert(0, {"type": "reasoning", "content": message.reasoning_content})
        for call in message.tool_calls or ():
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.id,
                    "name": call.function.name,
                    "arguments": call.function.arguments,
                }
            )
        entry: dict[str, Any] = {"role": "assistant", "parts": parts}
        entry["finish_reason"] = choice.finish_reason or "error"
        out.append(entry)
    return out
