"""The facts the emulator checks requests against: its own copy, on purpose.

The emulator is the SDK's test oracle. If it read its limits and model ids from
``doubao_vision._facts``, a wrong number there would be wrong on both sides of every
test and no test could catch it. So this module restates what Ark documents
(``shared/DOUBAO-API.md`` sections 2-4: "图片理解", the model pages, "模型下线公告",
the chat API's parameter ranges), and the SDK's tests compare the two.
"""

from __future__ import annotations

import re

__all__ = [
    "DETAILS",
    "DETAIL_TOKEN_CAPS",
    "FORMAT_ALIASES",
    "MAX_COMPLETION_TOKENS",
    "MAX_IMAGE_BYTES",
    "MAX_PIXELS",
    "MAX_STOP",
    "MIN_PIXELS",
    "MIN_SIDE",
    "MODELS",
    "OTHER_MODELS",
    "PARAMETER_RANGES",
    "PIXELS_PER_TOKEN",
    "PIXEL_LIMIT",
    "RETIRED_MODELS",
    "UNKNOWN_SIZE_TOKENS",
    "known_model",
]

# -- images (图片理解 > 使用说明) -------------------------------------------------

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # per image, URL or base64
MIN_SIDE = 14  # both sides must be *more* than this
MIN_PIXELS = 196  # width x height; anything outside [196, 36M] is refused outright
MAX_PIXELS = 36_000_000
PIXEL_LIMIT = (3136, 4_014_080)  # image_pixel_limit: 3136 <= min <= max <= 4,014,080
DETAILS = ("low", "high", "auto")
PIXELS_PER_TOKEN = 784  # one token per 28 x 28 patch
DETAIL_TOKEN_CAPS = {"low": 1312, "auto": 1312, "high": 5120}
# A remote URL is not fetched, so its size is unknown; it is charged this much.
UNKNOWN_SIZE_TOKENS = 85
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}

# -- the chat API (对话(Chat) API) --------------------------------------------------

MAX_COMPLETION_TOKENS = 65536
# Inclusive ranges Ark takes; a value outside is 400 InvalidParameter naming the field.
PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
    "top_logprobs": (0, 20),
}
MAX_STOP = 4  # stop: one string or a list of up to four

# -- models (model pages; 模型下线公告) ---------------------------------------------

MODELS = (
    "doubao-1-5-vision-pro-250328",
    "doubao-1-5-vision-lite-250315",
    "doubao-1-5-ui-tars-250428",
    "doubao-1-5-vision-pro-32k-250115",
)
# Answered but not listed by GET /v1/models, which lists the four vision models above.
OTHER_MODELS = ("doubao-1-5-thinking-vision-pro-250428",)
# Retired on 2025-08-28; Ark switched their endpoints to these successors, so a
# request naming them is still answered.
RETIRED_MODELS = {
    "doubao-vision-pro-32k-241028": "doubao-1-5-vision-pro-250328",
    "doubao-vision-pro-32k-241215": "doubao-1-5-vision-pro-250328",
    "doubao-vision-lite-32k-241015": "doubao-1-5-vision-lite-250315",
    "doubao-1-5-ui-tars-250328": "doubao-1-5-ui-tars-250428",
}
# doubao-seed-1.6 and its flash / thinking / vision / lite variants, by release date
# (doubao-seed-1-6-250615, doubao-seed-1-6-vision-250815, doubao-seed-1-6-251015, ...).
_SEED_16 = re.compile(r"doubao-seed-1-6(-(flash|thinking|vision|lite))?-\d{6}")
# An Ark endpoint id (ep-20250101123456-abcde) or a preset endpoint (ep-m-...).
_ENDPOINT = re.compile(r"ep-(m-)?[0-9a-z]+(-[0-9a-z]+)*")
_KNOWN = frozenset(MODELS) | frozenset(OTHER_MODELS) | frozenset(RETIRED_MODELS)


def known_model(model: str, extra: frozenset[str] = frozenset()) -> bool:
    """Whether Ark would find ``model``: a Doubao id (dotted as 302.AI spells it, or
    dashed), a retired id, a seed-1.6 id, an endpoint id, or one of ``extra``."""
    if model in extra or model in _KNOWN:
        return True
    dashed = model.replace(".", "-")  # doubao-1.5-vision-pro-250328, as 302.AI lists it
    if dashed in _KNOWN:
        return True
    return bool(_SEED_16.fullmatch(dashed) or _ENDPOINT.fullmatch(model))
