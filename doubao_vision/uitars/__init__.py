"""UI-TARS: Doubao's GUI agent model as typed actions in screenshot pixels.

- :func:`parse_actions` turns an answer (``Thought: ...\\nAction: click(...)``)
  into a :class:`Step` of frozen actions; anything outside the grammar raises
  :class:`~doubao_vision.ActionParseError`.
- :func:`computer_prompt` and :func:`mobile_prompt` are the prompts, in English
  or Chinese.
- :class:`UITarsSession` runs the screenshot -> step loop against a client.

Coordinates: the model answers on a 0-1000 grid; ``x_px = floor(x * width /
1000 + 1/2)`` clamped into the screenshot (values above 1000 are absolute
pixels). See :mod:`doubao_vision.uitars._parse` for the whole rule.
"""

from __future__ import annotations

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
from ._parse import CoordinateForm, format_action, parse_actions, to_pixel
from ._prompts import Language, computer_prompt, mobile_prompt
from ._session import UITarsSession

__all__ = [
    "Action",
    "ActionParseError",
    "Box",
    "CallUser",
    "Click",
    "CoordinateForm",
    "Direction",
    "DoubleClick",
    "Drag",
    "Finished",
    "Hotkey",
    "Language",
    "LongPress",
    "OpenApp",
    "PressBack",
    "PressHome",
    "RightClick",
    "Scroll",
    "Step",
    "Type",
    "UITarsSession",
    "Wait",
    "computer_prompt",
    "format_action",
    "mobile_prompt",
    "parse_actions",
    "to_pixel",
]
