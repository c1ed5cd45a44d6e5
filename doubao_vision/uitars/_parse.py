"""Parse a UI-TARS answer into a typed :class:`Step`; format an action back into the grammar.

Coordinates. The Doubao UI-TARS models answer on a ``factor`` x ``factor`` grid
(1000 by default) whatever the screenshot's size. A value ``v`` on an axis of
``size`` pixels maps to ``floor(v * size / factor + 1/2)`` (round half up, in exact
arithmetic: decimals such as ``197.5`` are read as fractions, never floats). As
UI-TARS-desktop does, a value above ``factor`` is taken as an absolute pixel
(``floor(v + 1/2)``); for a box this is decided per axis, so both corners of an
axis are read the same way. Results are clamped into ``[0, size - 1]``, so the
grid's 1000 lands on the last pixel rather than one past it. A box's point is its
centre, ``((x1 + x2) / 2, (y1 + y2) / 2)`` on the grid, mapped the same way.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal, TypeAlias, cast

from .. import ActionParseError
from ._actions import (
    Action,
    Box,
    CallUser,
    Click,
    Direction,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    LongPress,
    OpenApp,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    Step,
    Type,
    Wait,
)
from ._grammar import Call, coordinates, escape, split_calls, split_sections

__all__ = ["CoordinateForm", "format_action", "parse_actions", "to_pixel"]

CoordinateForm: TypeAlias = Literal["point", "tuple", "list", "bbox", "box_token"]
"""How :func:`format_action` writes a position:

- ``point``: ``point='<point>x y</point>'`` (doubao-1.5-ui-tars, 20B prompt)
- ``tuple``: ``start_box='(x,y)'`` (UI-TARS-1.5 open weights)
- ``list``: ``start_box='[x1, y1, x2, y2]'`` (the 15B prompt)
- ``bbox``: ``start_box='<bbox>x1 y1 x2 y2</bbox>'`` (Ark's older GUI doc)
- ``box_token``: ``start_box='<|box_start|>(x,y)<|box_end|>'`` (UI-TARS-desktop)
"""

_START = ("point", "start_point", "start_box")
_END = ("end_point", "end_box")
_DIRECTIONS = ("up", "down", "left", "right")
_POINTED: dict[str, type[Click | DoubleClick | RightClick | LongPress]] = {
    "click": Click,
    "left_single": Click,
    "left_double": DoubleClick,
    "right_single": RightClick,
    "long_press": LongPress,
}
_BARE: dict[str, Action] = {"wait": Wait(), "press_home": PressHome(), "press_back": PressBack()}
_NAMES: dict[type, str] = {
    Click: "click",
    DoubleClick: "left_double",
    RightClick: "right_single",
    LongPress: "long_press",
}


def to_pixel(value: Fraction, size: int, factor: int, *, absolute: bool | None = None) -> int:
    """One coordinate in screenshot pixels, by the rule in this module's docstring."""
    if absolute is None:
        absolute = value > factor
    exact = value if absolute else value * size / factor
    return min(max(math.floor(exact + Fraction(1, 2)), 0), size - 1)


def parse_actions(text: str, *, image_size: tuple[int, int], factor: int = 1000) -> Step:
    """Parse one UI-TARS answer into a :class:`Step` in screenshot pixels.

    Args:
        text: the model's answer (``Thought: ...\\nAction: ...``).
        image_size: ``(width, height)`` of the screenshot the model saw.
        factor: the model's coordinate grid (1000 for Doubao's UI-TARS).

    Raises:
        ActionParseError: the text is not in the grammar; ``line`` is the offending text.
        ValueError: ``image_size`` or ``factor`` is not positive.
    """
    width, height = image_size
    if width <= 0 or height <= 0 or factor <= 0:
        raise ValueError(f"image_size and factor must be positive, got {image_size}, {factor}")
    if not isinstance(text, str):
        raise ActionParseError(f"expected text, got {type(text).__name__}", line=repr(text))
    sections = split_sections(text)
    actions = [_action(call, width, height, factor) for call in split_calls(sections.action)]
    return Step(sections.thought, sections.reflection, sections.action_summary, actions, text)


class _Args:
    """One call's arguments, taken one by one so leftovers can be refused."""

    def __init__(self, call: Call, width: int, height: int, factor: int) -> None:
        self.call = call
        self.left = dict(call.kwargs)
        self.size = (width, height, factor)

    def fail(self, why: str) -> ActionParseError:
        return ActionParseError(why, line=self.call.source)

    def maybe(self, *names: str) -> str | None:
        given = [name for name in names if name in self.left]
        if len(given) > 1:
            raise self.fail(f"{self.call.name}() takes one of {', '.join(given)}")
        return self.left.pop(given[0]) if given else None

    def text(self, *names: str) -> str:
        value = self.maybe(*names)
        if value is None:
            raise self.fail(f"{self.call.name}() needs {names[0]}=")
        return value

    def place(self, value: str) -> tuple[int, int, Box | None]:
        try:
            numbers = coordinates(value)
        except ActionParseError as exc:
            raise self.fail(str(exc)) from None
        return _place(numbers, *self.size)


def _action(call: Call, width: int, height: int, factor: int) -> Action:
    args = _Args(call, width, height, factor)
    action = _build(call.name, args)
    if args.left:
        raise args.fail(f"{call.name}() got unexpected {', '.join(sorted(args.left))}")
    return action


def _build(name: str, args: _Args) -> Action:
    if name in _POINTED:
        return _POINTED[name](*args.place(args.text(*_START)))
    if name == "drag":
        sx, sy, sbox = args.place(args.text(*_START))
        ex, ey, ebox = args.place(args.text(*_END))
        return Drag(sx, sy, ex, ey, sbox, ebox)
    if name == "scroll":
        direction = args.text("direction").strip().lower()
        if direction not in _DIRECTIONS:
            raise args.fail(f"scroll direction must be up, down, left or right: {direction!r}")
        at = args.maybe(*_START)
        side = cast(Direction, direction)
        return Scroll(side) if at is None else Scroll(side, *args.place(at))
    if name == "hotkey":
        keys = args.text("key", "hotkey").split()
        if not keys:
            raise args.fail("hotkey() needs at least one key")
        return Hotkey(keys)
    if name == "type":
        content = args.text("content")
        return Type(content.rstrip("\n"), content.endswith("\n"))
    if name in ("finished", "call_user"):
        said = args.maybe("content") or ""
        return Finished(said) if name == "finished" else CallUser(said)
    if name == "open_app":
        app = args.text("app_name").strip()
        if not app:
            raise args.fail("open_app() needs a non-empty app_name")
        return OpenApp(app)
    if name in _BARE:
        return _BARE[name]
    raise args.fail(f"unknown action {name!r}")


def _place(
    numbers: list[Fraction], width: int, height: int, factor: int
) -> tuple[int, int, Box | None]:
    xs, ys = numbers[0::2], numbers[1::2]
    x_abs, y_abs = max(xs) > factor, max(ys) > factor
    x = to_pixel(sum(xs, Fraction(0)) / len(xs), width, factor, absolute=x_abs)
    y = to_pixel(sum(ys, Fraction(0)) / len(ys), height, factor, absolute=y_abs)
    if len(numbers) == 2:
        return x, y, None
    box = (
        to_pixel(xs[0], width, factor, absolute=x_abs),
        to_pixel(ys[0], height, factor, absolute=y_abs),
        to_pixel(xs[1], width, factor, absolute=x_abs),
        to_pixel(ys[1], height, factor, absolute=y_abs),
    )
    return x, y, box


def _where(key: str, x: int, y: int, box: Box | None, form: CoordinateForm) -> str:
    """``key='...'`` for one position; ``key`` is ``start``/``end``/``""`` (the point)."""
    if form == "point":
        name = f"{key}_point" if key else "point"
        return f"{name}='<point>{x} {y}</point>'"
    name = f"{key or 'start'}_box"
    x1, y1, x2, y2 = box if box is not None else (x, y, x, y)
    if form == "list":
        return f"{name}='[{x1}, {y1}, {x2}, {y2}]'"
    if form == "bbox":
        return f"{name}='<bbox>{x1} {y1} {x2} {y2}</bbox>'"
    if form == "tuple":
        return f"{name}='({x},{y})'"
    return f"{name}='<|box_start|>({x},{y})<|box_end|>'"


def format_action(action: Action, form: CoordinateForm = "point") -> str:
    """``action`` as the model would write it, its numbers written as they are.

    The numbers are taken to be on the model's grid already, so
    ``parse_actions("Action: " + format_action(a, form), image_size=...)`` gives
    ``a`` mapped to pixels. ``list`` and ``bbox`` write an action's box (or the
    point as a zero-size box); the other forms write its point, dropping the box.
    """
    if isinstance(action, (Click, DoubleClick, RightClick, LongPress)):
        return f"{_NAMES[type(action)]}({_where('', action.x, action.y, action.box, form)})"
    if isinstance(action, Drag):
        start = _where("start", action.start_x, action.start_y, action.start_box, form)
        end = _where("end", action.end_x, action.end_y, action.end_box, form)
        return f"drag({start}, {end})"
    if isinstance(action, Scroll):
        if action.x is None or action.y is None:
            return f"scroll(direction='{action.direction}')"
        at = _where("", action.x, action.y, action.box, form)
        return f"scroll({at}, direction='{action.direction}')"
    if isinstance(action, Hotkey):
        return f"hotkey(key='{escape(' '.join(action.keys))}')"
    if isinstance(action, Type):
        typed = action.content + "\n" if action.submit else action.content
        return f"type(content='{escape(typed)}')"
    if isinstance(action, (Finished, CallUser)):
        name = "finished" if isinstance(action, Finished) else "call_user"
        return f"{name}(content='{escape(action.content)}')" if action.content else f"{name}()"
    if isinstance(action, OpenApp):
        return f"open_app(app_name='{escape(action.app_name)}')"
    if isinstance(action, PressHome):
        return "press_home()"
    if isinstance(action, PressBack):
        return "press_back()"
    return "wait()"
