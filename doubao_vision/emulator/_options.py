"""The request's knobs, checked the way Ark checks them: ranges, ``n``, ``stop``,
``response_format`` and ``tools`` / ``tool_choice``.

``n`` above 1 is refused: Ark's image-understanding page lists ``n`` (with
``frequency_penalty`` and ``presence_penalty``) among the fields vision requests do
not support (ArkDocs, "图片理解 > API 参数字段说明"; ``shared/DOUBAO-API.md`` section 2),
and every model this emulator serves is a vision model. The two penalties are
range-checked but otherwise ignored.
"""

from __future__ import annotations

from typing import Any

from ._facts import MAX_COMPLETION_TOKENS, MAX_STOP, PARAMETER_RANGES
from ._wire import bad

__all__ = ["check_parameters", "json_schema", "stop_strings", "tool_plan"]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_parameters(body: dict[str, Any]) -> None:
    """Refuse a sampling parameter outside Ark's range, and ``n`` above 1.

    Raises:
        ApiError: 400 ``InvalidParameter`` whose ``param`` names the field.
    """
    for name, (low, high) in PARAMETER_RANGES.items():
        value: Any = body.get(name)
        if value is None:
            continue
        if not _number(value) or not low <= value <= high:
            raise bad(name, f"The parameter `{name}` specified in the request is not valid: "
                      f"it must be a number in [{low:g}, {high:g}], got {value!r}.")  # fmt: skip
    logprobs = body.get("logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise bad("logprobs", "The parameter `logprobs` must be a boolean.")
    limit: Any = body.get("max_completion_tokens")
    if _number(limit) and limit > MAX_COMPLETION_TOKENS:
        raise bad(
            "max_completion_tokens",
            f"The parameter `max_completion_tokens` must be in [0, {MAX_COMPLETION_TOKENS}].",
        )
    n = body.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise bad("n", "The parameter `n` must be a positive integer.")
        if n > 1:
            raise bad("n", "The parameter `n` is not supported for vision models; use n=1.")


def stop_strings(body: dict[str, Any]) -> tuple[str, ...]:
    """``stop`` as a tuple: one string or a list of up to four."""
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,) if stop else ()
    if (
        not isinstance(stop, list)
        or len(stop) > MAX_STOP
        or not all(isinstance(s, str) for s in stop)
    ):
        raise bad("stop", f"The parameter `stop` must be a string or up to {MAX_STOP} strings.")
    return tuple(s for s in stop if s)


def json_schema(body: dict[str, Any]) -> dict[str, Any]:
    """``response_format.json_schema.schema`` of a ``json_schema`` request."""
    holder = body["response_format"].get("json_schema")
    if not isinstance(holder, dict):
        raise bad(
            "response_format.json_schema",
            "`response_format.json_schema` must be an object with a `schema`.",
        )
    schema = holder.get("schema", {})
    if not isinstance(schema, dict):
        raise bad(
            "response_format.json_schema.schema",
            "`response_format.json_schema.schema` must be a JSON Schema object.",
        )
    return schema


def tool_plan(body: dict[str, Any], *, after_tool_result: bool) -> tuple[str | None, Any]:
    """The tool this answer calls and its parameters schema, or ``(None, None)``.

    With ``tool_choice`` auto (the default), a conversation whose last message is a
    tool result is answered in text, so an agent loop ends; ``required`` or a named
    function always calls; ``none`` never does.
    """
    tools = body.get("tools")
    if tools is None or tools == []:
        return None, None
    if not isinstance(tools, list):
        raise bad("tools", "`tools` must be a list.")
    schemas: dict[str, Any] = {}
    for k, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise bad(f"tools[{k}].function.name", "Every tool needs a function name.")
        assert isinstance(function, dict)
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise bad(f"tools[{k}].function.parameters", "`parameters` must be a JSON Schema.")
        schemas.setdefault(name, parameters)
    choice = body.get("tool_choice")
    if choice is None or choice == "auto":
        if after_tool_result:
            return None, None
        name = next(iter(schemas))
    elif choice == "none":
        return None, None
    elif choice == "required":
        name = next(iter(schemas))
    elif isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in schemas:
            raise bad("tool_choice.function.name", "`tool_choice` names no tool in `tools`.")
    else:
        raise bad("tool_choice", "`tool_choice` must be none, auto, required or a function.")
    return name, schemas[name]
