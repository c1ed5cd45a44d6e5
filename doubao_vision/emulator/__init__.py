"""A local emulator of the Doubao chat API, for the SDK's tests, the demo and yours.

It is a real ``aiohttp.web`` server speaking Ark's JSON: deterministic answers that
describe every image received, Ark's and 302.AI's error shapes, streaming knobs and
scriptable faults::

    from doubao_vision.emulator import Emulator, Fault

    async with Emulator(api_key="test-key") as base_url:
        ...  # point a client at base_url

Run it alone with ``python -m doubao_vision.emulator --port 8000``.
"""

from ._app import create_app
from ._faults import Fault
from ._server import Emulator, serve
from ._state import RecordedRequest

__all__ = ["Emulator", "Fault", "RecordedRequest", "create_app", "serve"]
