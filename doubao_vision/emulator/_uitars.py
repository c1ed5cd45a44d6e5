"""The emulator's UI-TARS answers: a Thought line and one action in the grammar.

Deterministic and offline, so :class:`doubao_vision.uitars.UITarsSession` loops run
in tests: the point comes from the newest screenshot's hash and size (0-1000 grid), the
action kind and the coordinate form rotate with the number of assistant turns so
far, and after ``FINISH_AFTER`` turns the answer is ``finished(content=...)``.

This is the test oracle, so it keeps its own copy of the grammar (the forms of
``shared/DOUBAO-API.md`` section 7) and never imports ``doubao_vision.uitars``.
"""

from __future__ import annotations

import hashlib

from ._request import ChatRequest, ImagePart

__all__ = ["FINISH_AFTER", "ui_tars_answer"]

FINISH_AFTER = 6  # assistant turns already in the conversation when the task is "done"
GRID = 1000

# Every coordinate form the models emit, so a loop exercises each of them.
_FORMS = ("point", "tuple", "list", "bbox", "box_token")
_KEYS = ("ctrl c", "ctrl v", "alt tab", "enter", "ctrl shift t")
_DIRECTIONS = ("down", "up", "right", "left")


def _where(key: str, x: int, y: int, form: str) -> str:
    """``key='...'`` for one point in ``form``; ``key`` is "", "start" or "end"."""
    if form == "point":
        return f"{key + '_' if key else ''}point='<point>{x} {y}</point>'"
    name = f"{key or 'start'}_box"
    if form == "tuple":
        return f"{name}='({x},{y})'"
    if form == "list":
        return f"{name}='[{x}, {y}, {x}, {y}]'"
    if form == "bbox":
        return f"{name}='<bbox>{x} {y} {x} {y}</bbox>'"
    return f"{name}='<|box_start|>({x},{y})<|box_end|>'"


def _digest(image: ImagePart) -> bytes:
    # Re-hashed so any length of recorded hash (or a URL) gives 32 well-mixed bytes.
    seen = f"{image.sha256 or image.url}:{image.width}x{image.height}"
    return hashlib.sha256(seen.encode()).digest()


def ui_tars_answer(chat: ChatRequest) -> str:
    """The answer a UI-TARS model gives to ``chat``: ``Thought: ...\\nAction: ...``."""
    if not chat.images:
        return "Thought: I cannot see the screen without a screenshot.\nAction: call_user()"
    turns = chat.turns
    if turns >= FINISH_AFTER:
        return (
            f"Thought: The task is complete after {turns} steps.\n"
            f"Action: finished(content='Done after {turns} steps: it\\'s finished.')"
        )
    image = chat.images[-1]
    digest = _digest(image)
    x = int.from_bytes(digest[0:4], "big") % (GRID + 1)
    y = int.from_bytes(digest[4:8], "big") % (GRID + 1)
    x2 = int.from_bytes(digest[8:12], "big") % (GRID + 1)
    y2 = int.from_bytes(digest[12:16], "big") % (GRID + 1)
    form = _FORMS[turns % len(_FORMS)]
    size = f"{image.width}x{image.height}" if image.width is not None else "of unknown size"
    kinds = (
        ("click the element", f"click({_where('', x, y, form)})"),
        ("double-click the icon", f"left_double({_where('', x, y, form)})"),
        ("type the query and submit it", "type(content='hello \\'world\\'\\n')"),
        (
            "scroll for more",
            f"scroll({_where('', x, y, form)}, direction='{_DIRECTIONS[digest[16] % 4]}')",
        ),
        (
            "drag the item",
            f"drag({_where('start', x, y, form)}, {_where('end', x2, y2, form)})",
        ),
        ("press a shortcut", f"hotkey(key='{_KEYS[digest[17] % len(_KEYS)]}')"),
        ("right-click for the menu", f"right_single({_where('', x, y, form)})"),
        ("wait for the page", "wait()"),
    )
    what, action = kinds[(turns + digest[18]) % len(kinds)]
    return (
        f"Thought: Step {turns + 1}: the screenshot is {size}; "
        f"I {what} near ({x}, {y}).\nAction: {action}"
    )
