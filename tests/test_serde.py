"""Payload round trips: request bodies, spliced image bodies, and response parsing."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import doubao_vision as dv
from doubao_vision._body import SplicedJSONPayload, encode_body
from doubao_vision._samples import make_png, make_png_of_size
from doubao_vision._serde import parse_chunk, parse_completion, structure_messages

IMAGES = [make_png(16 + i, 20 + i, seed=i) for i in range(4)]

texts = st.text(max_size=40)
details = st.sampled_from([None, "low", "high", "auto"])
limits = st.one_of(
    st.none(),
    st.integers(3136, 4_014_080).flatmap(
        lambda low: st.builds(dv.ImagePixelLimit, st.just(low), st.integers(low, 4_014_080))
    ),
)
image_parts = st.builds(
    lambda i, d, lim: dv.ImagePart(dv.ImageURL(dv.Image.from_bytes(IMAGES[i]), d, lim)),
    st.integers(0, len(IMAGES) - 1),
    details,
    limits,
)
url_parts = st.builds(
    lambda n, d: dv.ImagePart(dv.ImageURL(f"https://img.example/{n}.png", d)),
    st.integers(0, 999),
    details,
)
parts = st.lists(
    st.one_of(st.builds(dv.TextPart, texts), image_parts, url_parts), min_size=1, max_size=5
)
messages = st.lists(
    st.one_of(
        st.builds(dv.SystemMessage, texts),
        st.builds(dv.UserMessage, st.one_of(texts, parts)),
        st.builds(dv.AssistantMessage, texts),
        st.builds(dv.ToolMessage, texts, texts),
    ),
    min_size=1,
    max_size=4,
)


def _wire(body: bytes | SplicedJSONPayload) -> bytes:
    return body if isinstance(body, bytes) else body.decode().encode()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.one_of(st.none(), st.floats(0, 2)), st.one_of(st.none(), st.integers(1, 4096)))
def test_request_payload_round_trips(
    msgs: list[Any], temperature: float | None, max_tokens: int | None
) -> None:
    """Any request encodes to JSON that parses back into the same messages and re-encodes identically."""
    request = dv.ChatRequest(
        model="m", messages=msgs, temperature=temperature, max_tokens=max_tokens
    )
    wire = _wire(encode_body(request.to_payload(stream=False)))
    decoded = orjson.loads(wire)
    assert decoded.get("temperature") == temperature and decoded.get("max_tokens") == max_tokens
    again = dv.ChatRequest(model="m", messages=structure_messages(decoded["messages"]))
    assert _wire(encode_body(again.to_payload(stream=False))) == _wire(
        encode_body(dv.ChatRequest(model="m", messages=msgs).to_payload(stream=False))
    )
    assert "null" not in wire.decode().replace('"null"', "")  # None fields are omitted


def test_big_images_are_spliced_not_joined() -> None:
    """A body with a multi-MB image is a SplicedJSONPayload whose size and bytes match the joined JSON."""
    big = make_png_of_size(2_000_000, seed=3)
    request = dv.ChatRequest(model="m", messages=[dv.user("a", big, "b", big)])
    body = encode_body(request.to_payload(stream=True))
    assert isinstance(body, SplicedJSONPayload)
    wire = body.decode().encode()
    assert body.size == len(wire)
    decoded = orjson.loads(wire)
    url = decoded["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == big
    assert decoded["stream"] is True and decoded["stream_options"] == {"include_usage": True}


def test_marker_text_in_user_content_is_not_spliced() -> None:
    """User text that looks like an image placeholder is sent verbatim."""
    from doubao_vision import _body

    text = f"{_body._MARKER}0"
    request = dv.ChatRequest(model="m", messages=[dv.user(dv.TextPart(text), IMAGES[0])])
    decoded = orjson.loads(_wire(encode_body(request.to_payload(stream=False))))
    assert decoded["messages"][0]["content"][0]["text"] == text


completion_dicts = st.fixed_dictionaries(
    {
        "id": st.text(max_size=20),
        "model": st.text(max_size=20),
        "created": st.integers(0, 2**40),
        "object": st.just("chat.completion"),
        "choices": st.lists(
            st.fixed_dictionaries(
                {
                    "index": st.integers(0, 5),
                    "finish_reason": st.sampled_from(["stop", "length", None]),
                    "message": st.fixed_dictionaries(
                        {"role": st.just("assistant"), "content": st.one_of(st.none(), texts)},
                        optional={"reasoning_content": texts, "new_field": st.integers()},
                    ),
                }
            ),
            max_size=3,
        ),
    },
    optional={
        "usage": st.fixed_dictionaries(
            {
                "prompt_tokens": st.integers(0, 10**6),
                "completion_tokens": st.integers(0, 10**6),
                "total_tokens": st.integers(0, 10**6),
            },
            optional={
                "prompt_tokens_details": st.fixed_dictionaries(
                    {"cached_tokens": st.integers(0, 99)}
                )
            },
        ),
        "service_tier": st.sampled_from(["default", "scale"]),
        "surprise": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    },
)


@given(completion_dicts)
def test_any_completion_parses_with_extras_kept(data: dict[str, Any]) -> None:
    """Any well-formed completion parses; every field lands on the object or in .extra."""
    completion = parse_completion(data)
    assert completion.id == data["id"] and len(completion.choices) == len(data["choices"])
    for parsed, raw in zip(completion.choices, data["choices"], strict=True):
        assert parsed.message.content == raw["message"]["content"]
        assert parsed.message.reasoning_content == raw["message"].get("reasoning_content")
        if "new_field" in raw["message"]:
            assert parsed.message.extra["new_field"] == raw["message"]["new_field"]
    if "surprise" in data:
        assert completion.extra["surprise"] == data["surprise"]


def test_usage_chunk_with_empty_choices_parses() -> None:
    """The include_usage chunk (choices: []) and unknown chunk fields parse cleanly."""
    chunk = parse_chunk(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 4,
                "total_tokens": 7,
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
            "obfuscation": "zz",
        }
    )
    assert chunk.choices == [] and chunk.usage is not None and chunk.usage.reasoning_tokens == 2
    assert chunk.extra["obfuscation"] == "zz"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"id": "x", "choices": "nope"}, "$.choices"),
        ({"id": "x", "choices": [{"index": "0", "message": {}}]}, "$.choices[0].index"),
        ({"id": 5, "choices": []}, "$.id"),
        ({"choices": []}, "$.id"),
    ],
)
def test_misfit_names_path(data: dict[str, Any], path: str) -> None:
    """A misfit response raises ResponseValidationError naming the bad field's path."""
    with pytest.raises(dv.ResponseValidationError) as info:
        parse_completion(data)
    assert info.value.path.startswith(path)
