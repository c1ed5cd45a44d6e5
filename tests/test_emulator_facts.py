"""The emulator's own copy of Doubao's facts agrees with the SDK's (two sources, one truth)."""

from __future__ import annotations

from doubao_vision import _facts as sdk
from doubao_vision.emulator import _facts as oracle


def test_image_limits_agree() -> None:
    """Byte, side and pixel limits, the pixel-limit range and the token maths are equal."""
    assert oracle.MAX_IMAGE_BYTES == sdk.MAX_IMAGE_BYTES
    assert oracle.MIN_SIDE == sdk.MIN_SIDE
    assert (oracle.MIN_PIXELS, oracle.MAX_PIXELS) == (sdk.MIN_PIXELS, sdk.MAX_PIXELS)
    assert oracle.PIXEL_LIMIT == (sdk.MIN_IMAGE_PIXEL_LIMIT, sdk.MAX_IMAGE_PIXEL_LIMIT)
    assert oracle.PIXELS_PER_TOKEN == sdk.PIXELS_PER_TOKEN
    assert oracle.DETAIL_TOKEN_CAPS["low"] == sdk.LOW_DETAIL_TOKEN_CAP
    assert oracle.DETAIL_TOKEN_CAPS["high"] == sdk.HIGH_DETAIL_TOKEN_CAP
    assert oracle.MAX_COMPLETION_TOKENS == sdk.MAX_COMPLETION_TOKENS


def test_models_agree() -> None:
    """The listed models are the SDK's; every id the SDK knows, retired ones too, is found."""
    assert set(oracle.MODELS) <= set(sdk.MODELS)
    for model in [*sdk.MODELS, *sdk.RETIRED_MODELS]:
        assert oracle.known_model(model), model
    for retired, successor in oracle.RETIRED_MODELS.items():
        assert sdk.RETIRED_MODELS[retired] == successor
