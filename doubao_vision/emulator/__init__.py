"""A local emulator of the Doubao chat API, for the SDK's tests, the demo and yours.

It is a real ``aiohttp.web`` server speaking Ark's JSON: deterministic answers that
describe every image received, structured answers and tool arguments that validate
against the schema sent, Ark's and 302.AI's error shapes, streaming knobs and
scriptable faults::

    from doubao_vision.emulator import Emulator, Fault

    async with Emulator(api_key="test-key") as base_url:
        ...  # point a client at base_url

Run it alone with ``python -m doubao_vision.emulator --port 8000``.

The emulator is the SDK's test oracle, so it keeps its own copy of the facts it
checks (limits, token maths, model ids: ``_facts.py``) and never imports the SDK's.

Names load on first use, so importing ``doubao_vision.emulator.__main__`` for its
argument parser (``--help``) does not load aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import Fault
    from ._server import Emulator, create_app, serve
    from ._state import RecordedRequest

__all__ = ["Emulator", "Fault", "RecordedRequest", "create_app", "serve"]

_HOMES = {
    "Emulator": "._server",
    "Fault": "._faults",
    "RecordedRequest": "._state",
    "create_app": "._server",
    "serve": "._server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
