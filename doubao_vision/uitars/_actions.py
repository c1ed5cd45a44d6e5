"""The typed UI-TARS actions and the :class:`Step` one answer parses into.

Every action is a frozen attrs value in screenshot pixels, so two parses of the
same answer compare equal and an action can key a dict. Executing them is the
caller's business (see the README's pyautogui example).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypeAlias

import attrs

__all__ = [
    "Action",
    "Box",
    "CallUser",
    "Click",
    "Direction",
    "DoubleClick",
    "Drag",
    "Finished",
    "Hotkey",
    "LongPress",
    "OpenApp",
    "PressBack",
    "PressHome",
    "RightClick",
    "Scroll",
    "Step",
    "Type",
    "Wait",
]

Box: TypeAlias = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in screenshot pixels, as the model wrote the corners."""

Direction: TypeAlias = Literal["up", "down", "left", "right"]


def _strings(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(keys)


@attrs.frozen
class Click:
    """A left click at ``(x, y)``; ``box`` is set when the model named a box, not a point."""

    x: int
    y: int
    box: Box | None = None


@attrs.frozen
class DoubleClick:
    """``left_double``: a left double click."""

    x: int
    y: int
    box: Box | None = None


@attrs.frozen
class RightClick:
    """``right_single``: one right click."""

    x: int
    y: int
    box: Box | None = None


@attrs.frozen
class LongPress:
    """``long_press`` (mobile): touch and hold."""

    x: int
    y: int
    box: Box | None = None


@attrs.frozen
class Drag:
    """Press at the start, move, release at the end."""

    start_x: int
    start_y: int
    end_x: int
    end_y: int
    start_box: Box | None = None
    end_box: Box | None = None


@attrs.frozen
class Hotkey:
    """Keys pressed together, in order, as named (``key='ctrl c'`` -> ``('ctrl', 'c')``)."""

    keys: tuple[str, ...] = attrs.field(converter=_strings)

    @keys.validator
    def _check(self, _: attrs.Attribute[tuple[str, ...]], keys: tuple[str, ...]) -> None:
        if not keys or any(not key or key.split() != [key] for key in keys):
            raise ValueError(f"Hotkey needs one or more keys without spaces, got {keys!r}")


@attrs.frozen
class Type:
    """Type ``content``; ``submit`` is the grammar's trailing ``\\n`` (press Enter after).

    ``content`` never ends in a newline: that newline *is* ``submit``.
    """

    content: str = attrs.field()
    submit: bool = False

    @content.validator
    def _check(self, _: attrs.Attribute[str], content: str) -> None:
        if content.endswith("\n"):
            raise ValueError("Type.content must not end in a newline; set submit=True")


@attrs.frozen
class Scroll:
    """Scroll towards ``direction`` (the side to show more of), at ``(x, y)`` when given."""

    direction: Direction
    x: int | None = None
    y: int | None = None
    box: Box | None = None


@attrs.frozen
class Wait:
    """Wait (the prompt says five seconds) and take a new screenshot."""


@attrs.frozen
class Finished:
    """The task is done; ``content`` is the model's closing answer, if any."""

    content: str = ""


@attrs.frozen
class CallUser:
    """The model gives up or needs a human; ``content`` says why, if it did."""

    content: str = ""


@attrs.frozen
class OpenApp:
    """``open_app`` (mobile): launch an app by its name."""

    app_name: str


@attrs.frozen
class PressHome:
    """``press_home`` (mobile)."""


@attrs.frozen
class PressBack:
    """``press_back`` (mobile)."""


Action: TypeAlias = (
    Click
    | DoubleClick
    | RightClick
    | LongPress
    | Drag
    | Hotkey
    | Type
    | Scroll
    | Wait
    | Finished
    | CallUser
    | OpenApp
    | PressHome
    | PressBack
)


def _actions(actions: Iterable[Action]) -> tuple[Action, ...]:
    return tuple(actions)


@attrs.frozen
class Step:
    """One parsed answer: the model's words and the actions to run, in order.

    Attributes:
        thought: the ``Thought:`` section, or None.
        reflection: the ``Reflection:`` section, or None.
        action_summary: the ``Action_Summary:`` section, or None.
        actions: one or more actions (several when the model wrote several,
            separated by blank lines).
        text: the answer as the model wrote it.
    """

    thought: str | None
    reflection: str | None
    action_summary: str | None
    actions: tuple[Action, ...] = attrs.field(converter=_actions)
    text: str = attrs.field(default="", repr=False, eq=False)

    @property
    def done(self) -> bool:
        """The model said :class:`Finished` or :class:`CallUser`: the loop ends here."""
        return any(isinstance(action, (Finished, CallUser)) for action in self.actions)
