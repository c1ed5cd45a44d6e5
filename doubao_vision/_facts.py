"""Doubao's facts in one place: image limits, pixel and token maths, models.

Sources are ``shared/DOUBAO-API.md`` sections 2-3 (Ark's "图片理解" pages, the
model pages and the retirement notice). Everything else in the SDK reads these
names; the emulator keeps its own copy on purpose (it is the test oracle).
"""

from __future__ import annotations

import math

import attrs

__all__ = [
    "HIGH_DETAIL_MAX_PIXELS",
    "HIGH_DETAIL_TOKEN_CAP",
    "IMAGE_FORMATS",
    "IMAGE_SUFFIXES",
    "LOW_DETAIL_MAX_PIXELS",
    "LOW_DETAIL_TOKEN_CAP",
    "MAX_COMPLETION_TOKENS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXEL_LIMIT",
    "MAX_PIXELS",
    "MIN_IMAGE_PIXEL_LIMIT",
    "MIN_PIXELS",
    "MIN_SIDE",
    "MODELS",
    "MODEL_UI_TARS",
    "MODEL_VISION_LITE",
    "MODEL_VISION_PRO",
    "MODEL_VISION_PRO_32K",
    "PIXELS_PER_TOKEN",
    "RETIRED_MODELS",
    "RETIREMENT_DATE",
    "ModelInfo",
    "image_tokens",
    "model_info",
    "pixel_budget",
]

# -- images (图片理解: 使用说明) ---------------------------------------------

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # per image, URL or base64
MIN_SIDE = 14  # both sides must be *more* than this
MIN_PIXELS = 196  # width x height, else refused outright
MAX_PIXELS = 36_000_000
IMAGE_FORMATS = ("jpeg", "png", "gif", "webp", "bmp", "tiff", "ico", "heic", "heif")
IMAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".dib",
    ".tif", ".tiff", ".ico", ".heic", ".heif",
)  # fmt: skip

# -- what the server rescales an image to (image_url.detail / image_pixel_limit) --

MIN_IMAGE_PIXEL_LIMIT = 3136
MAX_IMAGE_PIXEL_LIMIT = 4_014_080  # also detail=high's ceiling (5120 x 28 x 28)
LOW_DETAIL_MAX_PIXELS = 1_048_576  # detail=low (the default) and auto
HIGH_DETAIL_MAX_PIXELS = MAX_IMAGE_PIXEL_LIMIT
PIXELS_PER_TOKEN = 784  # one token per 28 x 28 patch
LOW_DETAIL_TOKEN_CAP = 1312
HIGH_DETAIL_TOKEN_CAP = 5120

MAX_COMPLETION_TOKENS = 65536


def pixel_budget(
    detail: str | None, min_pixels: int | None = None, max_pixels: int | None = None
) -> tuple[int, int]:
    """``(low, high)``: the pixel range the server rescales an image into.

    ``image_pixel_limit`` (its ``min_pixels``/``max_pixels``) takes precedence
    over ``detail``; ``high`` means [3136, 4,014,080], anything else [3136, 1,048,576].
    """
    if min_pixels is not None or max_pixels is not None:
        return (min_pixels or MIN_IMAGE_PIXEL_LIMIT, max_pixels or MAX_IMAGE_PIXEL_LIMIT)
    high = HIGH_DETAIL_MAX_PIXELS if detail == "high" else LOW_DETAIL_MAX_PIXELS
    return MIN_IMAGE_PIXEL_LIMIT, high


def image_tokens(
    pixels: int | None,
    detail: str | None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> int:
    """Tokens one image costs, as Ark counts them: ``min(ceil(w * h / 784), cap)``.

    With an ``image_pixel_limit`` the pixels are clamped into it first (no cap
    beyond that); an image of unknown size (a remote URL) counts the most it can.
    """
    if min_pixels is not None or max_pixels is not None:
        low, high = pixel_budget(None, min_pixels, max_pixels)
        pixels = high if pixels is None else min(max(pixels, low), high)
        return math.ceil(pixels / PIXELS_PER_TOKEN)
    cap = HIGH_DETAIL_TOKEN_CAP if detail == "high" else LOW_DETAIL_TOKEN_CAP
    return cap if pixels is None else min(math.ceil(pixels / PIXELS_PER_TOKEN), cap)


# -- models (model pages; 模型下线公告) ----------------------------------------

MODEL_VISION_PRO = "doubao-1-5-vision-pro-250328"
MODEL_VISION_LITE = "doubao-1-5-vision-lite-250315"
MODEL_VISION_PRO_32K = "doubao-1-5-vision-pro-32k-250115"
MODEL_UI_TARS = "doubao-1-5-ui-tars-250428"

RETIREMENT_DATE = "2025-08-28"
# Retired on RETIREMENT_DATE; existing endpoints were switched to these successors,
# so a request still works but answers differently.
RETIRED_MODELS: dict[str, str] = {
    "doubao-vision-pro-32k-241028": MODEL_VISION_PRO,
    "doubao-vision-pro-32k-241215": MODEL_VISION_PRO,
    "doubao-vision-lite-32k-241015": MODEL_VISION_LITE,
    "doubao-1-5-ui-tars-250328": MODEL_UI_TARS,
    "doubao-1.5-ui-tars-250328": MODEL_UI_TARS,
}


@attrs.frozen
class ModelInfo:
    """What one model can do, as its Ark model page says.

    Args:
        id: the model id.
        json_schema: takes ``response_format: {"type": "json_schema"}``; else
            ``json_object`` only (structured output then sends the schema as text).
        thinking_switch: takes ``thinking: {"type": ...}``.
        think_in_content: reasoning comes back inside ``content`` as
            ``<think>...</think>answer`` (vision-pro), not in ``reasoning_content``.
        tools: function calling works.
        video: takes ``video_url`` parts.
        gui_agent: answers in the UI-TARS action grammar.
    """

    id: str
    json_schema: bool = False
    thinking_switch: bool = False
    think_in_content: bool = False
    tools: bool = False
    video: bool = False
    gui_agent: bool = False


# Models that read images and take response_format json_schema: ArkDocs
# "模型介绍/模型列表", section "结构化输出能力(beta)" (volcengine.com/docs/82379/1330310),
# which "文本相关/结构化输出(beta)" (docs/82379/1568221) points to. The 1.5 vision
# models above take json_object only.
_JSON_SCHEMA_VISION_MODELS = (
    "doubao-seed-1-6-vision-250815",
    "doubao-seed-1-6-250615",
    "doubao-seed-1-6-251015",
    "doubao-seed-1-6-flash-250828",
    "doubao-seed-1-6-flash-250715",
    "doubao-seed-1-6-flash-250615",
    "doubao-seed-1-6-thinking-250715",
    "doubao-seed-1-6-thinking-250615",
    "doubao-1-5-thinking-vision-pro-250428",
)

MODELS: dict[str, ModelInfo] = {
    info.id: info
    for info in (
        ModelInfo(MODEL_VISION_PRO, think_in_content=True, video=True),
        ModelInfo(MODEL_VISION_LITE),
        ModelInfo(MODEL_VISION_PRO_32K, tools=True),
        ModelInfo(MODEL_UI_TARS, thinking_switch=True, gui_agent=True),
        *(
            ModelInfo(model, json_schema=True, thinking_switch=True, tools=True)
            for model in _JSON_SCHEMA_VISION_MODELS
        ),
    )
}


def model_info(model: str) -> ModelInfo:
    """The facts for ``model``; an unknown id (an ``ep-`` endpoint, a gateway
    alias) gets the most conservative ones, and dotted ids (``doubao-1.5-...``,
    as 302.AI spells them) match their dashed form."""
    info = MODELS.get(model) or MODELS.get(model.replace(".", "-"))
    if info is not None:
        return info
    if "ui-tars" in model:
        return ModelInfo(model, thinking_switch=True, gui_agent=True)
    return ModelInfo(model)
