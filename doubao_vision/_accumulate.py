"""Build the whole ChatCompletion from stream chunks, in time linear in the output.

Pieces go into lists and are joined once at the end; no snapshot is
re-serialised per chunk (openai-python re-dumps its snapshot on every chunk).
"""

from __future__ import annotations

import attrs

from ._messages import AssistantMessage, FunctionCall, ToolCall
from ._models import ChatCompletion, ChatCompletionChunk, Choice, ToolCallDelta, Usage

__all__ = ["StreamAccumulator"]


@attrs.define
class _ToolCallParts:
    id: str = ""
    type: str = "function"
    name: str = ""
    arguments: list[str] = attrs.field(factory=list)

    def add(self, delta: ToolCallDelta) -> None:
        # id, type and name arrive whole (usually in the first delta): overwrite;
        # arguments arrive in pieces: append.
        if delta.id:
            self.id = delta.id
        if delta.type:
            self.type = delta.type
        function = delta.function
        if function is not None:
            if function.name:
                self.name = function.name
            if function.arguments:
                self.arguments.append(function.arguments)

    def build(self) -> ToolCall:
        return ToolCall(self.id, FunctionCall(self.name, "".join(self.arguments)), self.type)


@attrs.define
class _ChoiceParts:
    # reasoning and tool_calls are made when the first one arrives: most answers have
    # neither, and a thousand open streams each hold one of these per choice.
    role: str = "assistant"
    content: list[str] = attrs.field(factory=list)
    reasoning: list[str] | None = None
    tool_calls: dict[int, _ToolCallParts] | None = None
    finish_reason: str | None = None

    def add_tool_calls(self, deltas: list[ToolCallDelta]) -> None:
        tool_calls = self.tool_calls
        if tool_calls is None:
            tool_calls = self.tool_calls = {}
        for call in deltas:
            tool = tool_calls.get(call.index)
            if tool is None:
                tool = tool_calls[call.index] = _ToolCallParts()
            tool.add(call)

    def build(self, index: int) -> Choice:
        calls = self.tool_calls or {}
        tool_calls = [calls[i].build() for i in sorted(calls)] or None
        message = AssistantMessage(
            content="".join(self.content) if self.content or not tool_calls else None,
            reasoning_content="".join(self.reasoning) if self.reasoning else None,
            tool_calls=tool_calls,
        )
        return Choice(index=index, message=message, finish_reason=self.finish_reason)


@attrs.define
class StreamAccumulator:
    """Feed it every chunk; ``build()`` gives the completion so far."""

    id: str = ""
    model: str = ""
    created: int = 0
    service_tier: str | None = None
    usage: Usage | None = None
    choices: dict[int, _ChoiceParts] = attrs.field(factory=dict)

    @property
    def finished(self) -> bool:
        """Every choice seen so far has a finish_reason."""
        return bool(self.choices) and all(c.finish_reason for c in self.choices.values())

    def add(self, chunk: ChatCompletionChunk) -> None:
        if not self.id:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
            self.service_tier = chunk.service_tier
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            parts = self.choices.get(choice.index)
            if parts is None:
                parts = self.choices[choice.index] = _ChoiceParts()
            delta = choice.delta
            content = delta.content
            if content:
                parts.content.append(content)
            role = delta.role
            if role:
                parts.role = role
            reasoning = delta.reasoning_content
            if reasoning:
                if parts.reasoning is None:
                    parts.reasoning = [reasoning]
                else:
                    parts.reasoning.append(reasoning)
            tool_calls = delta.tool_calls
            if tool_calls:
                parts.add_tool_calls(tool_calls)
            finish_reason = choice.finish_reason
            if finish_reason:
                parts.finish_reason = finish_reason

    def build(self, *, request_id: str | None, client_request_id: str | None) -> ChatCompletion:
        return ChatCompletion(
            id=self.id,
            choices=[self.choices[i].build(i) for i in sorted(self.choices)],
            model=self.model,
            created=self.created,
            service_tier=self.service_tier,
            usage=self.usage,
            request_id=request_id,
            client_request_id=client_request_id,
        )
