"""The hand-built message path (_fastmessages) equals the converter: same objects, same
JSON (key order included), same errors; and it is the path the OpenAI-style shapes take."""

from __future__ import annotations

import base64
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import doubao_vision as dv
from doubao_vision import _fastmessages
from doubao_vision._exceptions import DoubaoVisionError
from doubao_vision._fastmessages import structure_fast, unstructure_fast
from doubao_vision._images import Image
from doubao_vision._messages import Extra
from doubao_vision._request import ChatRequest
from doubao_vision._samples import make_png
from doubao_vision._serde import converter, structure_messages

PNG = base64.b64encode(make_png(20, 30, seed=3)).decode()
DATA_URLS = [
    f"data:image/png;base64,{PNG}",
    f"data:image/PNG;base64,{PNG}",
    f"data:image/jpeg;base64,{PNG}",  # declares the wrong format
    f"data:image/png;base64,{PNG[:-3]}*==",  # invalid base64
    "data:text/plain;base64,aGk=",
]


class Text(str):
    """A str subclass: the converter's rules for it are its own, so the fast path declines."""


# -- inputs: the common shapes, each with the ways it can go wrong --------------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """one_of with weights (one_of draws its branches evenly, however often one is listed)."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(lambda s: s)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 5_000_000), st.floats(0, 1))
plain = st.text(max_size=8)
texts = weighted((6, plain), (1, st.builds(Text, st.text(max_size=4))))
maybe: Any = st.one_of(texts, scalars)


def _with_junk(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Mostly ``base``; sometimes with a key dropped, added or its value swapped."""

    def edit(value: dict[str, Any], how: int, key: str, junk: Any) -> Any:
        out = dict(value)
        if how == 1 and out:
            out.pop(sorted(out)[len(key) % len(out)])
        elif how == 2:
            out[key] = junk
        elif how == 3 and out:
            out[sorted(out)[len(key) % len(out)]] = junk
        return out

    how = st.sampled_from([0] * 12 + [1, 2, 3])
    keys = st.sampled_from(["extra", "name", "type", "detail", "text", "url", "role", "x"])
    return st.builds(edit, base, how, keys, maybe)


urls = st.one_of(
    st.sampled_from(DATA_URLS[:2] * 3 + DATA_URLS),
    st.sampled_from(["https://img.example/a.png", "http://x/1.jpg", "ftp://x", ""]),
    st.builds(Text, st.just("https://img.example/b.png")),
    scalars,
)
limits = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "min_pixels": st.one_of(st.integers(3000, 5_000_000), st.booleans(), st.none()),
            "max_pixels": st.one_of(st.integers(3000, 5_000_000), st.none()),
        },
    ),
    _with_junk(st.fixed_dictionaries({"min_pixels": st.integers(3136, 4000)})),
    st.builds(dv.ImagePixelLimit, st.just(3136), st.just(4000)),
)
image_urls = _with_junk(
    st.fixed_dictionaries(
        {"url": urls},
        optional={
            "detail": st.one_of(st.sampled_from(["low", "high", "auto", "LOW", None]), texts),
            "image_pixel_limit": limits,
        },
    )
)
text_parts = _with_junk(st.fixed_dictionaries({"type": st.just("text"), "text": texts}))
image_parts = _with_junk(
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.one_of(image_urls, st.just(dv.ImageURL("https://img.example/c.png"))),
        }
    )
)
other_parts = st.one_of(
    st.just({"type": "video_url", "video_url": {"url": "https://v.example/a.mp4"}}),
    st.just({"text": "no type"}),
    st.just(dv.TextPart("an object")),
    st.just(dv.ImagePart(dv.ImageURL("https://img.example/d.png", "low"))),
    st.just(("type", "text")),
    scalars,
)
parts = weighted((3, text_parts), (3, image_parts), (1, other_parts))
contents = weighted(
    (2, texts),
    (6, st.lists(parts, max_size=3)),
    (1, st.lists(parts, max_size=2).map(tuple)),
    (2, st.lists(text_parts, max_size=3)),
    (1, scalars),
)
good_roles = st.sampled_from(["user"] * 6 + ["system", "system", "assistant", "tool"])
roles = weighted(
    (12, good_roles),
    (1, st.sampled_from(["developer", "USER", ""])),
    (1, st.builds(Text, st.just("user"))),
    (1, scalars),
)
chat_messages = _with_junk(
    st.fixed_dictionaries(
        {"role": roles, "content": contents},
        optional={"name": st.one_of(st.text(max_size=3), texts, scalars)},
    )
)
tool_messages = _with_junk(
    st.fixed_dictionaries(
        {
            "role": st.just("tool"),
            "content": texts,
            "tool_call_id": weighted((4, plain), (1, texts), (1, scalars)),
        }
    )
)
assistant_messages = _with_junk(
    st.fixed_dictionaries(
        {"role": st.just("assistant")},
        optional={
            "content": st.one_of(texts, st.none()),
            "reasoning_content": texts,
            "tool_calls": st.just([{"id": "c1", "function": {"name": "f"}}]),
        },
    )
)
message_objects = st.sampled_from(
    [dv.user("hi"), dv.system("be brief"), dv.assistant("ok"), dv.tool("42", "c1"), 7]
)
messages = weighted(
    (8, chat_messages), (1, tool_messages), (2, assistant_messages), (1, message_objects)
)


# -- what a path gives: objects and their exact shape, or the error -------------------


def _shape(value: Any) -> Any:
    """Everything that tells two structured results apart: classes, fields, values."""
    if isinstance(value, Image):
        return ("Image", value._facts(), value.url or value.base64_bytes())
    if isinstance(value, Extra):
        return ("Extra", dict(value))
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return (type(value), tuple((f.name, _shape(getattr(value, f.name))) for f in fields))
    if isinstance(value, list):
        return ("list", [_shape(item) for item in value])
    return (type(value), value)


def _outcome(items: list[Any]) -> tuple[Any, ...]:
    try:
        result = structure_messages(items)
    except DoubaoVisionError as exc:
        return ("error", type(exc), str(exc))
    return ("ok", _shape(result))


def _converter_outcome(items: list[Any]) -> tuple[Any, ...]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fastmessages, "structure_fast", lambda items: None)
        return _outcome(items)


def _json(value: Any) -> bytes:
    """JSON with key order kept; an Image as its data URL."""

    def default(obj: Any) -> Any:
        if isinstance(obj, Image):
            return ["Image", obj.data_url()]
        raise TypeError(type(obj).__name__)

    return orjson.dumps(value, default=default)


# -- the properties -------------------------------------------------------------------


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(messages, min_size=1, max_size=2))
def test_structure_equals_the_converter(items: list[Any]) -> None:
    """Any message list: the fast path builds what the converter builds, or declines,
    and structure_messages gives the converter's result or error either way."""
    before = _converter_outcome(items)
    fast = structure_fast(items)
    if fast is not None:
        assert before == ("ok", _shape(fast))
    assert _outcome(items) == before


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(messages, min_size=1, max_size=2))
def test_unstructure_equals_the_converter(items: list[Any]) -> None:
    """Any structured message list: the fast JSON equals the converter's, key order included."""
    try:
        structured = structure_messages(items)
    except DoubaoVisionError:
        return
    fast = unstructure_fast(structured)
    if fast is not None:
        assert _json(fast) == _json(converter.unstructure(structured))


@settings(max_examples=200, deadline=None)
@given(
    content=st.text(max_size=5),
    name=st.one_of(st.none(), st.text(max_size=3)),
    reasoning=st.one_of(st.none(), st.text(max_size=3)),
    limit=st.one_of(st.none(), st.just(dv.ImagePixelLimit(None, 5000))),
)
def test_unstructure_objects_built_directly(
    content: str, name: str | None, reasoning: str | None, limit: dv.ImagePixelLimit | None
) -> None:
    """Messages built as objects (not from dicts) unstructure as the converter does them."""
    image = Image.from_bytes(make_png(20, 20))
    items: list[Any] = [
        dv.UserMessage(
            [dv.TextPart(content), dv.ImagePart(dv.ImageURL(image, "high", limit))], name
        ),
        dv.SystemMessage([dv.TextPart(content)], name),
        dv.AssistantMessage(content or None, reasoning, None, name),
        dv.AssistantMessage(None, tool_calls=[dv.ToolCall("c1", dv.FunctionCall("f", "{}"))]),
        dv.ToolMessage(content, "c1"),
        dv.UserMessage([dv.VideoPart(dv.VideoURL("https://v.example/a.mp4", 1.0))]),
    ]
    for message in items:
        fast = unstructure_fast([message])
        if fast is not None:
            assert _json(fast) == _json(converter.unstructure([message]))


def test_openai_shapes_take_the_fast_paths() -> None:
    """The shapes a user of the openai SDK sends are built and written by hand, not by cattrs."""
    items: list[Any] = [
        {"role": "system", "content": "be brief", "name": "rules"},
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": DATA_URLS[0], "detail": "low"}},
                {
                    "type": "image_url",
                    "image_url": {
                        "url": "https://img.example/a.png",
                        "image_pixel_limit": {"max_pixels": 1_000_000},
                    },
                },
            ],
        },
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": "And this?"},
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]
    fast = structure_fast(items)
    assert fast is not None
    assert _shape(fast) == _converter_outcome(items)[1]
    out = unstructure_fast(fast)
    assert out is not None and _json(out) == _json(converter.unstructure(fast))


def test_request_payload_uses_the_users_data_url() -> None:
    """A dict message's data URL stays the user's own str from request to body."""
    url = DATA_URLS[0]
    request = ChatRequest(
        model="doubao-1-5-vision-pro-250328",
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
    )
    image = request.to_payload(stream=False)["messages"][0]["content"][0]["image_url"]["url"]
    assert isinstance(image, Image) and image.data_url() is url and image._data is None


def test_errors_unchanged_for_declined_shapes() -> None:
    """A bad field still names its path, as the converter always has."""
    bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 3}}]}]
    before = _converter_outcome(bad)
    assert before[0] == "error" and "messages[0].content[0]" in before[2]
    assert _outcome(bad) == before


_IMAGE = {"url": DATA_URLS[0]}
NEAR_MISSES: list[Any] = [
    {"role": "tool", "content": "42", "tool_call_id": "c1", "x": 1},
    {"role": "tool", "content": "42"},
    {"role": "user", "content": "hi", "x": 1},
    {"role": "user", "content": "hi", "name": 3},
    {"role": "user", "content": ("hi",)},
    {"role": "user", "content": [{"type": "text", "text": "hi", "x": 1}]},
    {"role": "user", "content": [{"type": "text", "text": Text("hi")}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": _IMAGE, "x": 1}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {**_IMAGE, "x": 1}}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {**_IMAGE, "detail": 1}}]},
    {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {**_IMAGE, "detail": Text("low")}}],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "image_url",
                "image_url": {**_IMAGE, "image_pixel_limit": {"min_pixels": 4000, "x": 1}},
            }
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {**_IMAGE, "image_pixel_limit": {"min_pixels": 4e3}}}
        ],
    },
    {"role": "system", "content": "hi", "x": 1},
    {"role": "system", "content": [{"text": "no type"}]},
    {"role": "system", "content": [{"type": "image_url", "image_url": _IMAGE}]},
    {"role": "system", "content": [{"type": "text", "text": 1}]},
    {"role": "assistant", "content": "ok", "x": 1},
    {"role": "assistant", "content": 1},
    {"role": "assistant", "content": "ok", "reasoning_content": "hmm"},
    {"role": Text("user"), "content": "hi"},
]


@pytest.mark.parametrize("message", NEAR_MISSES)
def test_near_misses_decline_or_equal(message: Any) -> None:
    """A common shape with one thing off: the fast path declines (or builds the same),
    and structure_messages answers as the converter did."""
    before = _converter_outcome([message])
    fast = structure_fast([message])
    if before[0] == "error":
        assert fast is None
    elif fast is not None:
        assert before == ("ok", _shape(fast))
    assert _outcome([message]) == before
