"""Deterministic answers: what the assistant says, and the usage it costs.

The answer repeats what arrived (the prompt, each image's format, size, byte count
and hash), so a test can prove every image crossed the wire intact. Structured
answers (``json_schema``) and tool arguments validate against the schema sent,
filled from the same facts where names allow. Tokens are counted by whitespace,
which is crude but exact to predict.
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs
import orjson

from ._request import ChatRequest, ImagePart
from ._schema import instance_for

__all__ = ["Answer", "ToolCall", "answer_for", "completion_body", "count_tokens", "cut_tokens"]

_TOKEN = re.compile(r"\S+")


@attrs.frozen(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@attrs.frozen
class Answer:
    """The assistant's message, why it ended, and the usage block."""

    content: str | None
    reasoning: str | None
    tool_call: ToolCall | None
    finish_reason: str
    usage: dict[str, Any]

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.reasoning is not None:
            message["reasoning_content"] = self.reasoning
        if self.tool_call is not None:
            call = self.tool_call
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            ]
        return message


def count_tokens(text: str | None) -> int:
    return len(text.split()) if text else 0


def cut_tokens(text: str, limit: int) -> str:
    """The first ``limit`` whitespace-separated tokens of ``text``, spacing kept."""
    if limit <= 0:
        return ""
    end = 0
    for n, match in enumerate(_TOKEN.finditer(text), 1):
        end = match.end()
        if n == limit:
            break
    return text[:end]


def _image_line(i: int, image: ImagePart) -> str:
    if image.url is not None:
        return f"image {i}: url {image.url}"
    w = "?" if image.width is None else image.width
    h = "?" if image.height is None else image.height
    return f"image {i}: {image.format} {w}x{h} {image.size} bytes sha256:{image.sha256}"


def _image_json(image: ImagePart) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "format": "url" if image.url is not None else image.format,
        "width": image.width,
        "height": image.height,
        "bytes": image.size,
        "sha256": image.sha256,
    }
    if image.url is not None:
        entry["url"] = image.url
    return entry


def _facts(chat: ChatRequest) -> dict[str, Any]:
    """Property name -> value: what a schema's fields may be filled with."""
    images = [_image_json(image) for image in chat.images]
    first = images[0] if images else {}
    facts: dict[str, Any] = {
        "prompt": chat.prompt,
        "model": chat.model,
        "images": len(images),  # for an integer field; an array field gets images_facts
        "image_count": len(images),
        "num_images": len(images),
        "images_count": len(images),
        "images_facts": [{**image, "size": image["bytes"]} for image in images],
    }
    for key in ("format", "width", "height", "bytes", "sha256", "url"):
        if first.get(key) is not None:
            facts[key] = first[key]
    if "bytes" in first:
        facts["size"] = facts["file_size"] = first["bytes"]
    if chat.videos:
        facts["fps"] = chat.videos[0]
    text = _text(chat)
    for key in ("description", "caption", "summary", "answer", "text", "content"):
        facts[key] = text
    return facts


def _text(chat: ChatRequest) -> str:
    lines = [f"prompt: {chat.prompt}"] if chat.prompt else []
    lines.extend(_image_line(i, image) for i, image in enumerate(chat.images, 1))
    lines.extend(f"video {i}: fps={fps}" for i, fps in enumerate(chat.videos, 1))
    return "\n".join(lines) or "no content"


def _content(chat: ChatRequest) -> str:
    if chat.tool_result is not None:
        # After a tool result the model says what it learnt, in text: an agent loop ends.
        return f"tool result: {chat.tool_result}" if chat.tool_result else "tool result: (empty)"
    if chat.schema is not None:
        return orjson.dumps(instance_for(chat.schema, _facts(chat))).decode()
    if chat.json_mode:
        document: dict[str, Any] = {
            "prompt": chat.prompt or None,
            "images": [_image_json(image) for image in chat.images],
        }
        if chat.videos:
            document["videos"] = [{"fps": fps} for fps in chat.videos]
        return orjson.dumps(document).decode()
    if "ui-tars" in chat.model:
        # UI-TARS answers in its action grammar, a concern of its own module (imported
        # only when asked for, so the common path does not pay for it).
        from ._uitars import ui_tars_answer

        return ui_tars_answer(chat)
    return _text(chat)


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    """``text`` up to the first stop string (which is not included), or None."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return None if cut < 0 else text[:cut]


def answer_for(chat: ChatRequest, call_id: str, scripted: tuple[str, str] | None = None) -> Answer:
    """The one answer ``chat`` gets; ``call_id`` names a tool call if one is made.

    Args:
        scripted: ``(content, finish_reason)`` to answer exactly, instead of the
            usual answer (``Fault.answer``).
    """
    reasoning = f"Looking at {len(chat.images)} image(s)." if chat.thinking else None
    reasoning_tokens = count_tokens(reasoning)
    content: str | None
    tool_call = None
    finish_reason = "stop"
    if scripted is not None:
        content, finish_reason = scripted
    elif chat.tool_name is not None:
        arguments = instance_for(chat.tool_parameters or {"type": "object"}, _facts(chat))
        tool_call = ToolCall(call_id, chat.tool_name, orjson.dumps(arguments).decode())
        content = None
        finish_reason = "tool_calls"
    else:
        content = _content(chat)
        if chat.stop and (cut := _cut_at_stop(content, chat.stop)) is not None:
            content = cut
        budget = chat.max_tokens
        if chat.max_completion_tokens is not None:
            # max_completion_tokens covers the reasoning too; max_tokens only the answer.
            if reasoning is not None and chat.max_completion_tokens < reasoning_tokens:
                reasoning = cut_tokens(reasoning, chat.max_completion_tokens)
                reasoning_tokens = chat.max_completion_tokens
            budget = chat.max_completion_tokens - reasoning_tokens
        if budget is not None and count_tokens(content) > budget:
            content = cut_tokens(content, budget)
            finish_reason = "length"
    completion = count_tokens(tool_call.arguments if tool_call else content) + reasoning_tokens
    prompt = math.ceil(chat.text_chars / 4) + chat.image_tokens
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }
    return Answer(content, reasoning, tool_call, finish_reason, usage)


def completion_body(answer: Answer, request_id: str, created: int, model: str) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object."""
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": answer.message(),
                "finish_reason": answer.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": answer.usage,
    }
