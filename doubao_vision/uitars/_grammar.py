"""The UI-TARS answer grammar as text: headers, calls, quoted strings, coordinates.

Pure string work with no typed actions, so :mod:`._parse` reads like the grammar
and the formatter can share the escaping rules. The forms accepted are the ones
the models emit (``shared/DOUBAO-API.md`` section 7, and the behaviour of the
UI-TARS and UI-TARS-desktop parsers, re-derived, not copied).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

import attrs

from .. import ActionParseError

__all__ = ["Call", "Sections", "coordinates", "escape", "split_calls", "split_sections"]

_HEADER = re.compile(r"^[ \t]*(Thought|Reflection|Action_Summary|Action)[ \t]*[:\uff1a]", re.M)
# A one-line answer ("Thought: ... Action: click(...)") has no Action at a line start.
_INLINE_ACTION = re.compile(r"(?<=\s)Action[ \t]*[:\uff1a]")
# Reasoning a model writes into the content (vision-pro does) precedes the answer.
_THINK = re.compile(r"\A<think>.*?</think>\s*", re.S)
_FENCE = re.compile(r"\A```[A-Za-z]*[ \t]*\n(.*?)\n?```\Z", re.S)
_NAME = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(")
_KEY = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*")
# A quote closes a string only where the call can go on: `)` then the end of the
# line, or `, key=`. Any other quote inside is the model's text (models forget to
# escape apostrophes: type(content='It's done')).
_CLOSES = re.compile(r"[ \t]*(?:\)[ \t]*(?:\n|\Z)|,[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*=)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
# ASCII digits only: \d would take Arabic-Indic and other digits too.
_NUM = r"[0-9]+(?:\.[0-9]+)?"
_NUMS = rf"[ \t]*{_NUM}(?:(?:[ \t]*,[ \t]*|[ \t]+){_NUM})*[ \t]*"
_COORDS = re.compile(
    rf"<point>(?P<point>{_NUMS})</point>"
    rf"|<bbox>(?P<bbox>{_NUMS})</bbox>"
    rf"|<\|box_start\|>[ \t]*\((?P<token>{_NUMS})\)[ \t]*<\|box_end\|>"
    rf"|\((?P<tuple>{_NUMS})\)"
    rf"|\[(?P<list>{_NUMS})\]"
)
_SPLIT_NUMS = re.compile(r"[ \t]*,[ \t]*|[ \t]+")
_GAP = re.compile(r"\s*")
_PAREN = re.compile(r"[ \t]*\)")
_COMMA = re.compile(r"[ \t]*,")


@attrs.frozen
class Sections:
    """The headed parts of an answer; ``action`` is the text after ``Action:``."""

    thought: str | None
    reflection: str | None
    action_summary: str | None
    action: str


@attrs.frozen
class Call:
    """``name(key='value', ...)`` with the values unescaped; ``source`` is its text."""

    name: str
    kwargs: dict[str, str]
    source: str


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def split_sections(text: str) -> Sections:
    """Cut an answer at its ``Thought``/``Reflection``/``Action_Summary``/``Action`` headers.

    Either colon follows a header (``:`` or the full-width U+FF1A). An answer with
    no header at all is taken as bare actions. A leading ``<think>...</think>``
    block and a surrounding code fence are dropped.
    """
    text = _THINK.sub("", text.replace("\r\n", "\n").strip())
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    headers = list(_HEADER.finditer(text))
    if not any(h.group(1) == "Action" for h in headers):
        inline = _INLINE_ACTION.search(text)
        if inline is not None:
            headers = [h for h in headers if h.start() < inline.start()]
            headers.append(inline)
    if not headers:
        return Sections(None, None, None, text)
    if text[: headers[0].start()].strip():
        raise ActionParseError("text before the first header", line=_first_line(text))
    found: dict[str, str] = {}
    for i, header in enumerate(headers):
        name = header.group(1) if header.re is _HEADER else "Action"
        if name == "Action":
            found[name] = text[header.end() :]
            break
        if name in found:
            raise ActionParseError(f"{name}: appears twice", line=_first_line(header.group(0)))
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        found[name] = text[header.end() : end].strip()
    if "Action" not in found:
        raise ActionParseError("no Action: section", line=_first_line(text))
    return Sections(
        found.get("Thought"), found.get("Reflection"), found.get("Action_Summary"), found["Action"]
    )


def split_calls(text: str) -> list[Call]:
    """Every ``name(key='value', ...)`` call in an Action section, in order.

    Calls are separated by line breaks (the models use a blank line); string values
    may hold escapes (``\\n``, ``\\'``, ``\\"``, ``\\\\``, ``\\t``, ``\\r``) and raw
    newlines. Anything else raises :class:`ActionParseError`.
    """
    calls: list[Call] = []
    pos = 0
    end = len(text.rstrip())
    while True:
        gap = _GAP.match(text, pos)
        assert gap is not None  # \s* always matches
        if gap.end() >= end:
            break
        if calls and "\n" not in gap.group(0):
            raise ActionParseError(
                "actions must be on separate lines", line=_first_line(text[gap.end() :])
            )
        call, pos = _call(text, gap.end())
        calls.append(call)
    if not calls:
        raise ActionParseError("the Action section is empty", line=text.strip())
    return calls


def _call(text: str, start: int) -> tuple[Call, int]:
    def fail(why: str) -> ActionParseError:
        return ActionParseError(why, line=_first_line(text[start:]))

    head = _NAME.match(text, start)
    if head is None:
        raise fail("expected an action such as click(point='<point>x y</point>')")
    kwargs: dict[str, str] = {}
    pos = head.end()
    while True:
        close = _PAREN.match(text, pos)
        if close is not None:
            return Call(head.group(1), kwargs, text[start : close.end()]), close.end()
        key = _KEY.match(text, pos)
        if key is None:
            raise fail("expected key='value' or ')'")
        name = key.group(1)
        if name in kwargs:
            raise fail(f"argument {name!r} given twice")
        quote = text[key.end() : key.end() + 1]
        if quote not in ("'", '"'):
            raise fail(f"the value of {name!r} must be quoted")
        kwargs[name], pos = _string(text, key.end() + 1, quote, fail)
        comma = _COMMA.match(text, pos)
        if comma is not None:
            pos = comma.end()
        elif _PAREN.match(text, pos) is None:
            raise fail("expected ',' or ')' after a value")


def _string(
    text: str, pos: int, quote: str, fail: Callable[[str], ActionParseError]
) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            nxt = text[pos + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            pos += 2
            continue
        if char == quote and _CLOSES.match(text, pos + 1):
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise fail("a quoted value never ends")


def escape(value: str) -> str:
    """``value`` as the inside of a single-quoted grammar string (the inverse of parsing it)."""
    return (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )


def coordinates(value: str) -> list[Fraction]:
    """The 2 or 4 numbers of a point or box value, exactly (decimals as fractions).

    Forms: ``<point>x y</point>``, ``<bbox>x1 y1 x2 y2</bbox>``,
    ``<|box_start|>(x,y)<|box_end|>``, ``(x,y)``, ``[x1, y1, x2, y2]``.
    """
    match = _COORDS.fullmatch(value.strip())
    if match is None:
        raise ActionParseError(f"not a point or box: {value!r}", line=value)
    group = next(g for g in match.groups() if g is not None)
    numbers = [Fraction(n) for n in _SPLIT_NUMS.split(group.strip())]
    if len(numbers) not in (2, 4):
        raise ActionParseError(f"a point has 2 numbers, a box 4: {value!r}", line=value)
    return numbers
