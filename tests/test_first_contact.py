"""First contact: inputs are never silently misread, batches stop when nothing can
succeed, answers and errors travel (pickle, to_dict), and messages say what to do."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

import doubao_vision as dv
from doubao_vision import AsyncClient, RetryPolicy
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY, FAST_RETRY

NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture
def cat(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    path.write_bytes(make_png(40, 30, seed=3))
    return path


# -- inputs are never silently misread ----------------------------------------


async def test_swapped_ask_arguments_are_refused_before_sending(
    client: AsyncClient, emulator: Emulator, cat: Path
) -> None:
    """ask("cat.png", "What is this?") (the CLI's order) names the problem; nothing is sent."""
    with pytest.raises(dv.ImageNotFoundError, match="did you swap them"):
        await client.ask(str(cat), "What is this?")
    assert not emulator.requests


async def test_model_id_in_image_position_is_refused(
    client: AsyncClient, emulator: Emulator, cat: Path
) -> None:
    """ask("What?", "cat.png", MODEL_VISION_LITE) says to pass model=, not "file not found"."""
    with pytest.raises(dv.ImageNotFoundError, match="model="):
        await client.ask("What?", str(cat), dv.MODEL_VISION_LITE)
    assert not emulator.requests


@pytest.mark.parametrize(
    ("make_argument", "reason"),
    [
        (lambda tmp: str(tmp), "is a folder"),
        (lambda tmp: str(tmp / "photo"), "not an image file or URL"),
        (lambda tmp: "data:text/plain;base64,aGVsbG8=", "data"),
        (lambda tmp: "ftp://example.com/cat.png", "unsupported URL scheme"),
        (lambda tmp: "s3://bucket/cat.png", "unsupported URL scheme"),
        (lambda tmp: str(tmp / "missing.png"), "no such file"),
    ],
)
async def test_every_argument_after_the_prompt_must_be_an_image(
    client: AsyncClient, emulator: Emulator, tmp_path: Path, make_argument: object, reason: str
) -> None:
    """A folder, an extensionless path, a non-image data URL or another scheme is an ImageError."""
    argument = make_argument(tmp_path)  # type: ignore[operator]
    with pytest.raises(dv.ImageError, match=reason):
        await client.ask("What is this?", argument)
    assert not emulator.requests


async def test_file_urls_and_home_paths_are_images(
    client: AsyncClient, cat: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """file:// URLs and ~ in paths work, in ask() and user()."""
    monkeypatch.setenv("HOME", str(cat.parent))
    by_url = await client.ask("What?", cat.as_uri())
    by_home = await client.ask("What?", "~/cat.png")
    assert by_url == by_home
    assert "png 40x30" in by_url
    message = dv.user("What?", "~/cat.png")
    assert isinstance(message.content[1], dv.ImagePart)  # type: ignore[index]


def test_base_url_without_a_scheme_is_refused_at_once() -> None:
    """AsyncClient(base_url="api.302.ai/v1") fails when made, naming base_url."""
    with pytest.raises(dv.InvalidRequestError, match="base_url"):
        AsyncClient(API_KEY, base_url="api.302.ai/v1")


@pytest.mark.parametrize(
    ("keyword", "hint"),
    [("stream", "client.stream"), ("temprature", "temperature"), ("logit_bais", "extra_body")],
)
async def test_unknown_keywords_name_where_they_belong(
    client: AsyncClient, emulator: Emulator, keyword: str, hint: str
) -> None:
    """chat(..., stream=True) and typos name the keyword and where it belongs; nothing is sent."""
    with pytest.raises(dv.InvalidRequestError, match=keyword) as info:
        await client.chat(dv.MODEL_VISION_PRO, [dv.user("x")], **{keyword: True})  # type: ignore[arg-type]
    assert hint in str(info.value)
    with pytest.raises(dv.InvalidRequestError, match=keyword):
        client.stream(dv.MODEL_VISION_PRO, [dv.user("x")], **{keyword: True})  # type: ignore[arg-type]
    assert not emulator.requests


async def test_penalties_are_request_fields(client: AsyncClient, emulator: Emulator) -> None:
    """frequency_penalty and presence_penalty are sent, and checked to [-2, 2]."""
    await client.chat(
        dv.MODEL_VISION_PRO, [dv.user("x")], frequency_penalty=0.5, presence_penalty=-1
    )
    body = emulator.requests[-1].body
    assert body["frequency_penalty"] == 0.5 and body["presence_penalty"] == -1
    with pytest.raises(dv.InvalidRequestError, match="presence_penalty"):
        dv.ChatRequest(model=dv.MODEL_VISION_PRO, messages=[dv.user("x")], presence_penalty=3)


# -- batches -----------------------------------------------------------------


async def test_an_item_that_fails_to_build_is_that_items_error(
    client: AsyncClient, cat: Path, tmp_path: Path
) -> None:
    """A generator raising ImageNotFoundError while building item 2 fails item 2, not the run."""

    def requests() -> Iterator[dv.ChatRequest]:
        for name in ("cat.png", "cat.png", "gone.png"):
            yield dv.ChatRequest(
                model=dv.MODEL_VISION_PRO, messages=[dv.user("What?", tmp_path / name)]
            )

    results = await client.batch(requests())
    assert [r.ok for r in results] == [True, True, False]
    assert isinstance(results[2].error, dv.ImageNotFoundError)


async def test_a_batch_stops_on_an_error_no_item_can_get_past(emulator: Emulator) -> None:
    """A 401 stops the batch: the rest are 'not sent' with the cause, and nothing more is uploaded."""
    emulator.script(Fault.slow(0), Fault.error(401, code="AuthenticationError", message="bad key"))
    requests = [
        dv.ChatRequest(model=dv.MODEL_VISION_PRO, messages=[dv.user(f"q{i}")]) for i in range(50)
    ]
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=NO_RETRY) as client:
        results = await client.batch(requests, concurrency=1)
    assert len(results) == 50 and [r.index for r in results] == list(range(50))
    assert results[0].ok
    assert isinstance(results[1].error, dv.AuthenticationError)
    for result in results[2:]:
        assert isinstance(result.error, dv.BatchStoppedError)
        assert result.error.cause is results[1].error
        assert "not sent" in str(result.error) and "AuthenticationError" in str(result.error)
    assert len(emulator.requests) == 2


async def test_a_quota_error_stops_the_batch_but_a_rate_limit_does_not(emulator: Emulator) -> None:
    """QuotaExceeded (a person must act) stops the batch; a plain 429 is that item's error only."""
    requests = [
        dv.ChatRequest(model=dv.MODEL_VISION_PRO, messages=[dv.user(f"q{i}")]) for i in range(6)
    ]
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=NO_RETRY) as client:
        emulator.script(Fault.rate_limited(retry_after=0))
        limited = await client.batch(requests, concurrency=1)
        emulator.script(Fault.quota())
        quota = await client.batch(requests, concurrency=1)
    assert [r.ok for r in limited] == [False, True, True, True, True, True]
    assert isinstance(quota[0].error, dv.RateLimitError) and quota[0].error.is_quota
    assert all(isinstance(r.error, dv.BatchStoppedError) for r in quota[1:])


# -- answers and errors travel ------------------------------------------------


async def test_completions_chunks_and_usage_pickle_and_deepcopy_equal(
    client: AsyncClient, png: bytes
) -> None:
    """ChatCompletion, ChatCompletionChunk and Usage survive pickle and deepcopy unchanged."""
    completion = await client.chat(dv.MODEL_VISION_PRO, [dv.user("hi", png)])
    async with client.stream(dv.MODEL_VISION_PRO, [dv.user("hi")]) as stream:
        chunks = [chunk async for chunk in stream]
    for value in (completion, completion.usage, *chunks):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value
    again = pickle.loads(pickle.dumps(completion))
    assert again.http is not None and again.http.status_code == 200
    assert again.request_id == completion.request_id


def _same(one: object, other: object) -> bool:
    """Equal, with exceptions (which compare by identity) compared by class, message
    and attributes, and headers case-insensitively."""
    if isinstance(one, BaseException) and isinstance(other, BaseException):
        return (
            type(one) is type(other)
            and one.args == other.args
            and vars(one).keys() == vars(other).keys()
            and all(_same(vars(one)[key], vars(other)[key]) for key in vars(one))
        )
    if isinstance(one, Mapping) and isinstance(other, Mapping):
        return {str(k).lower(): v for k, v in one.items()} == {
            str(k).lower(): v for k, v in other.items()
        }
    return one == other


def test_every_exception_pickles_equal() -> None:
    """Every exception class in the tree pickles to the same class, message and attributes."""
    status = dv.RateLimitError(
        "slow down",
        status_code=429,
        code="QuotaExceeded",
        headers=CIMultiDictProxy(CIMultiDict({"Retry-After": "3"})),
        request_id="r1",
        client_request_id="c1",
        body={"error": {"code": "QuotaExceeded"}},
    )
    errors: list[dv.DoubaoVisionError] = [
        status,
        dv.ImageNotFoundError("missing", source="a.png"),
        dv.ResponseValidationError("bad", path="$.x", body={"x": 1}),
        dv.APITimeoutError("slow", client_request_id="c2"),
        dv.StreamTruncatedError("cut", client_request_id="c3"),
        dv.OutputValidationError("no fit", text="{}", errors=[("$.a", "missing")]),
        dv.LengthFinishReasonError("cut", text="{"),
        dv.ContentFilterFinishReasonError("no", text="", finish_reason="content_filter"),
        dv.ActionParseError("bad", line="clik()"),
        dv.BatchStoppedError("not sent", cause=status),
        dv.StreamClosedError("closed"),
        dv.MissingAPIKeyError("no key"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert _same(again, error)
    again_status = pickle.loads(pickle.dumps(status))
    assert again_status.retry_after == 3 and again_status.headers["retry-after"] == "3"


async def test_to_dict_to_json_and_from_dict_round_trip(client: AsyncClient, png: bytes) -> None:
    """to_dict() gives the wire shape (unknown fields kept) and from_dict() gives it back."""
    completion = await client.chat(dv.MODEL_VISION_PRO, [dv.user("hi", png)])
    wire = completion.to_dict()
    assert wire["choices"][0]["message"]["content"] == completion.text
    assert "request_id" not in wire and "http" not in wire
    # The wire shape has no request ids: they are ours, not the server's.
    bare = attrs.evolve(completion, request_id=None, client_request_id=None)
    assert dv.ChatCompletion.from_dict(wire) == bare
    assert dv.ChatCompletion.from_dict(orjson.loads(completion.to_json())) == bare
    odd = dict(wire, brand_new={"x": 1})
    assert dv.ChatCompletion.from_dict(odd).to_dict()["brand_new"] == {"x": 1}
    with pytest.raises(dv.ResponseValidationError):
        dv.ChatCompletion.from_dict({"id": 3})


# -- messages that say what to do ---------------------------------------------


async def test_final_completion_after_break_is_a_clear_stream_closed_error(
    emulator: Emulator,
) -> None:
    """break out of text_deltas() then final_completion(): StreamClosedError, not a connection error."""
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=FAST_RETRY) as client:
        async with client.stream(
            dv.MODEL_VISION_PRO,
            [dv.user("a b c d e f g h i j")],
            extra_headers={"X-Emulator-Chunks": "10", "X-Emulator-Chunk-Delay": "0.02"},
        ) as stream:
            async for _text in stream.text_deltas():
                break
            outcome: object
            try:
                outcome = await stream.final_completion()
            except dv.StreamClosedError as error:
                outcome = error
            if isinstance(outcome, dv.ChatCompletion):
                # The break was finalised after the rest had been read: the whole answer.
                assert outcome.finish_reason == "stop"
            else:
                assert not isinstance(outcome, dv.APIConnectionError)
                assert "stream.completion" in str(outcome)
        with pytest.raises(dv.StreamClosedError):
            await stream.final_completion()
        assert client.usage.errors.get("APIConnectionError", 0) == 0


async def test_quota_errors_say_the_quota_is_used_up(emulator: Emulator) -> None:
    """A quota 429 says the quota or balance is used up (not 'lower concurrency'), is_quota is set."""
    emulator.script(Fault.quota())
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=FAST_RETRY) as client:
        with pytest.raises(dv.RateLimitError) as info:
            await client.ask("x")
    assert info.value.is_quota
    assert "quota or balance" in str(info.value) and "concurrency" not in str(info.value)
    assert len(emulator.requests) == 1  # never retried


async def test_long_retry_after_says_both_numbers(emulator: Emulator) -> None:
    """A Retry-After above max_retry_after raises at once, saying both numbers; retry_after is exposed."""
    emulator.script(Fault.rate_limited(retry_after=90))
    retry = RetryPolicy(max_retries=3, max_retry_after=5)
    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=retry) as client:
        with pytest.raises(dv.RateLimitError) as info:
            await client.ask("x")
    assert info.value.retry_after == 90 and not info.value.is_quota
    assert "90s" in str(info.value) and "max_retry_after=5s" in str(info.value)


async def test_a_connection_cut_mid_body_says_so(emulator: Emulator) -> None:
    """A stream dropped mid-body says the connection closed mid-response after N chunks."""

    async def read_all(client: AsyncClient) -> None:
        async with client.stream(
            dv.MODEL_VISION_PRO,
            [dv.user("a b c d e f")],
            extra_headers={"X-Emulator-Fault": Fault.drop_mid_stream(3).to_header()},
        ) as stream:
            async for _ in stream:
                pass

    async with AsyncClient(API_KEY, base_url=emulator.base_url, retry=NO_RETRY) as client:
        with pytest.raises(dv.APIConnectionError) as info:
            await read_all(client)
    text = str(info.value)
    assert "TransferEncodingError" not in text and "400" not in text
    assert "mid-response" in text or "ended without" in text
    assert "chunks" in text
    assert client.usage.errors[type(info.value).__name__] == 1  # counted after the first chunk


async def test_connection_refused_hints_at_the_base_url() -> None:
    """Nothing listening: the error names host:port and says to check base_url."""
    async with AsyncClient(API_KEY, base_url="http://127.0.0.1:9/v1", retry=NO_RETRY) as client:
        with pytest.raises(dv.APIConnectionError, match="base_url") as info:
            await client.ask("x")
    assert "127.0.0.1:9" in str(info.value)


async def test_a_lazy_batch_input_is_built_off_the_event_loop(
    client: AsyncClient, cat: Path
) -> None:
    """A generator that reads image files is advanced in a worker thread, never on the loop's."""
    import threading

    loop_thread = threading.current_thread()
    seen: list[threading.Thread] = []

    def requests() -> Iterator[dv.ChatRequest]:
        for i in range(4):
            seen.append(threading.current_thread())
            yield dv.ChatRequest(model=dv.MODEL_VISION_PRO, messages=[dv.user(f"q{i}", cat)])

    results = await client.batch(requests(), concurrency=2)
    assert all(r.ok for r in results) and len(seen) == 4
    assert loop_thread not in seen
