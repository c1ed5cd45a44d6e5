"""OpenTelemetry: GenAI spans and metrics for chat, streams, retries, errors and model lists.

Each test gives its client an observer bound to its own SDK providers with
in-memory exporters (the global providers are set once per process, so the one
test of them runs in a subprocess).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import doubao_vision as dv
from doubao_vision import AsyncClient
from doubao_vision._telemetry import OpenTelemetryObserver
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY, FAST_RETRY

MODEL = dv.MODEL_VISION_PRO


class Telemetry:
    """An SDK tracer and meter provider with in-memory exporters."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)

    def observer(self, **options: Any) -> OpenTelemetryObserver:
        return OpenTelemetryObserver(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, **options
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.finished()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)  # type: ignore[arg-type]
        return found

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()


@pytest.fixture
async def traced(emulator: Emulator, telemetry: Telemetry) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, retry=FAST_RETRY, observers=[telemetry.observer()]
    ) as client:
        yield client


async def read_all(stream: dv.AsyncStream[dv.ChatCompletionChunk]) -> None:
    """Open ``stream`` with ``async with`` and read it to the end."""
    async with stream:
        async for _ in stream:
            pass


async def iterate(stream: dv.AsyncStream[dv.ChatCompletionChunk]) -> None:
    """Read ``stream`` with ``async for`` alone (no ``async with``)."""
    async for _ in stream:
        pass


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_chat_span_has_genai_attributes(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """A chat call makes one CLIENT span 'chat {model}' with request, response and usage attributes."""
    completion = await traced.chat(
        MODEL, [dv.user("hello")], max_tokens=50, temperature=0.3, top_p=0.9
    )
    span = telemetry.only_span()
    values = attrs_of(span)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert values["gen_ai.operation.name"] == "chat"
    assert values["gen_ai.provider.name"] == values["gen_ai.system"] == "volcengine.ark"
    assert values["gen_ai.request.model"] == MODEL
    assert values["gen_ai.request.max_tokens"] == 50
    assert values["gen_ai.request.temperature"] == pytest.approx(0.3)
    assert values["gen_ai.request.top_p"] == pytest.approx(0.9)
    assert values["gen_ai.response.model"] == completion.model
    assert values["gen_ai.response.id"] == completion.id
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert completion.usage is not None
    assert values["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert values["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert values["server.address"] == "127.0.0.1"
    assert values["server.port"] == emulator.port
    assert values["doubao_vision.client_request_id"] == completion.client_request_id
    assert values["http.response.status_code"] == 200
    assert "error.type" not in values
    assert "gen_ai.request.stream" not in values
    assert not span.events


async def test_chat_metrics_record_duration_and_tokens(
    traced: AsyncClient, telemetry: Telemetry
) -> None:
    """A chat call records operation.duration (s, advised buckets) and token.usage per token type."""
    completion = await traced.chat(MODEL, [dv.user("count my tokens please")])
    assert completion.usage is not None
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.sum > 0
    assert duration.explicit_bounds[:3] == (0.01, 0.02, 0.04)
    assert dict(duration.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "volcengine.ark",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": completion.model,
        "server.address": "127.0.0.1",
        "server.port": duration.attributes["server.port"],  # type: ignore[index]
    }
    tokens = {
        dict(p.attributes or {})["gen_ai.token.type"]: p
        for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == completion.usage.prompt_tokens
    assert tokens["output"].sum == completion.usage.completion_tokens
    assert tokens["input"].explicit_bounds[:3] == (1, 4, 16)
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []


async def test_retries_become_span_events(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """Each retry adds a 'doubao_vision.retry' event naming the attempt and its error; the span succeeds."""
    emulator.script(Fault.error(500), Fault.rate_limited("0"))
    await traced.chat(MODEL, [dv.user("hi")])
    span = telemetry.only_span()
    events: list[tuple[str, dict[str, Any]]] = [
        (e.name, dict(e.attributes or {})) for e in span.events
    ]
    assert [name for name, _ in events] == ["doubao_vision.retry"] * 2
    first, second = (values for _, values in events)
    assert first["retry.attempt"] == 1 and second["retry.attempt"] == 2
    assert first["error.type"] == "doubao_vision.InternalServerError"
    assert first["http.response.status_code"] == 500
    assert second["error.type"] == "doubao_vision.RateLimitError"
    assert all(values["retry.delay"] >= 0 for _, values in events)
    assert attrs_of(span)["doubao_vision.retries"] == 2
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize(
    ("fault", "error", "expected_type"),
    [
        (Fault.error(400), dv.BadRequestError, "doubao_vision.BadRequestError"),
        (Fault.quota(), dv.RateLimitError, "doubao_vision.RateLimitError"),
        (Fault.error(401), dv.AuthenticationError, "doubao_vision.AuthenticationError"),
    ],
)
async def test_failed_call_sets_error_type(
    traced: AsyncClient,
    telemetry: Telemetry,
    emulator: Emulator,
    fault: Fault,
    error: type[Exception],
    expected_type: str,
) -> None:
    """A call that fails sets error.type and an ERROR status on its span and duration point."""
    emulator.script(fault)
    with pytest.raises(error):
        await traced.chat(MODEL, [dv.user("hi")])
    span = telemetry.only_span()
    assert attrs_of(span)["error.type"] == expected_type
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == expected_type
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes or {})["error.type"] == expected_type
    assert telemetry.points("gen_ai.client.token.usage") == []


async def test_connection_failure_after_retries_is_recorded(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """Dropped connections on every attempt: two retry events, then error.type APIConnectionError."""
    emulator.script(*[Fault.drop_before_headers()] * 3)
    with pytest.raises(dv.APIConnectionError):
        await traced.chat(MODEL, [dv.user("hi")])
    span = telemetry.only_span()
    assert len(span.events) == 2
    assert attrs_of(span)["error.type"] == "doubao_vision.APIConnectionError"


async def test_completed_stream_span(traced: AsyncClient, telemetry: Telemetry) -> None:
    """A stream read to its end: span with stream=true, chunks, time to first chunk, usage; TTFC metric."""
    async with traced.stream(
        MODEL, [dv.user("tell me more")], extra_headers={"X-Emulator-Chunks": "5"}
    ) as stream:
        async for _ in stream:
            pass
    span = telemetry.only_span()
    values = attrs_of(span)
    completion = stream.completion
    assert values["gen_ai.request.stream"] is True
    assert values["doubao_vision.chunks"] == stream.http.chunks > 0
    assert values["gen_ai.response.time_to_first_chunk"] > 0
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert completion.usage is not None
    assert values["gen_ai.usage.output_tokens"] == completion.usage.completion_tokens
    assert span.status.status_code is StatusCode.UNSET
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    assert len(telemetry.points("gen_ai.client.token.usage")) == 2


async def test_stream_broken_off_ends_its_span(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """Leaving a stream early ends its span at close, with error.type StreamClosedError."""
    emulator.script(Fault.slow(0.05))  # chunks apart, so the first read is not the whole answer
    async with traced.stream(
        MODEL, [dv.user("a long answer please")], extra_headers={"X-Emulator-Chunks": "8"}
    ) as stream:
        async for _ in stream:
            assert telemetry.finished() == []  # open while the stream is
            break
    span = telemetry.only_span()
    values = attrs_of(span)
    assert values["error.type"] == "doubao_vision.StreamClosedError"
    assert values["doubao_vision.chunks"] >= 1
    assert "gen_ai.usage.output_tokens" not in values
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes or {})["error.type"] == "doubao_vision.StreamClosedError"


async def test_stream_failing_midway_ends_its_span(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """An error event after two chunks ends the span with that error's type."""
    emulator.script(Fault.stream_error_event(2, code="InternalServiceError"))
    with pytest.raises(dv.APIStatusError) as caught:
        await read_all(traced.stream(MODEL, [dv.user("hi there friend")]))
    span = telemetry.only_span()
    assert attrs_of(span)["error.type"] == f"doubao_vision.{type(caught.value).__name__}"
    assert span.status.status_code is StatusCode.ERROR


async def test_stream_failing_to_open_reports_its_error(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """A stream that fails to open (404) in `async with` ends its span with NotFoundError."""
    emulator.script(Fault.error(404))
    with pytest.raises(dv.NotFoundError):
        await read_all(traced.stream(MODEL, [dv.user("hi")]))
    assert attrs_of(telemetry.only_span())["error.type"] == "doubao_vision.NotFoundError"


async def test_stream_failing_to_open_in_a_for_loop_reports_its_error(
    traced: AsyncClient, telemetry: Telemetry, emulator: Emulator
) -> None:
    """A stream iterated without `async with` that fails to open ends its span with that error."""
    emulator.script(Fault.error(404))
    with pytest.raises(dv.NotFoundError):
        await iterate(traced.stream(MODEL, [dv.user("hi")]))
    assert attrs_of(telemetry.only_span())["error.type"] == "doubao_vision.NotFoundError"


async def test_call_cancelled_while_queued_ends_its_span(
    emulator: Emulator, telemetry: Telemetry
) -> None:
    """A call cancelled while it waits for an in-flight slot still ends its span."""
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, max_concurrency=1, observers=[telemetry.observer()]
    ) as client:
        emulator.script(Fault.stall(0.5))
        first = asyncio.create_task(client.chat(MODEL, [dv.user("first")]))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(client.chat(MODEL, [dv.user("queued")]))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        await first
    assert len(telemetry.finished()) == 2


async def test_models_call_has_a_span(traced: AsyncClient, telemetry: Telemetry) -> None:
    """GET /models is a 'list_models' span without model or usage attributes, and a duration point."""
    assert MODEL in await traced.models()
    span = telemetry.only_span()
    values = attrs_of(span)
    assert span.name == "list_models"
    assert values["gen_ai.operation.name"] == "list_models"
    assert "gen_ai.request.model" not in values
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes or {})["gen_ai.operation.name"] == "list_models"


async def test_span_is_a_child_of_the_callers_span(
    traced: AsyncClient, telemetry: Telemetry
) -> None:
    """The call's span takes the caller's current span as its parent."""
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("outer") as outer:
        await traced.chat(MODEL, [dv.user("hi")])
    spans = {span.name: span for span in telemetry.finished()}
    child = spans[f"chat {MODEL}"]
    assert child.parent is not None
    assert child.parent.span_id == outer.get_span_context().span_id


async def test_content_is_not_recorded_by_default(
    traced: AsyncClient, telemetry: Telemetry, png: bytes
) -> None:
    """Without the opt-in no attribute holds the prompt, the image's base64 or the answer."""
    prompt = "zebra-crossing-prompt-8675309"
    completion = await traced.chat(MODEL, [dv.user(prompt, png)])
    dumped = repr(attrs_of(telemetry.only_span()))
    assert prompt not in dumped
    assert base64.b64encode(png).decode()[:40] not in dumped
    assert completion.text not in dumped
    assert "gen_ai.input.messages" not in dumped


async def test_content_opt_in_records_text_but_never_image_bytes(
    emulator: Emulator, telemetry: Telemetry, png: bytes
) -> None:
    """capture_content=True records prompt and answer text; images are described, not copied."""
    prompt = "zebra-crossing-prompt-8675309"
    async with AsyncClient(
        API_KEY,
        base_url=emulator.base_url,
        observers=[telemetry.observer(capture_content=True)],
    ) as client:
        completion = await client.chat(MODEL, [dv.system("be brief"), dv.user(prompt, png)])
    values = attrs_of(telemetry.only_span())
    assert prompt in values["gen_ai.input.messages"]
    assert '"role":"system"' in values["gen_ai.input.messages"]
    assert f'"bytes":{len(png)}' in values["gen_ai.input.messages"]
    (answer,) = json.loads(values["gen_ai.output.messages"])
    assert answer["parts"] == [{"type": "text", "content": completion.text}]
    assert answer["finish_reason"] == "stop"
    assert base64.b64encode(png).decode()[:40] not in repr(values)


async def test_capture_env_variable_turns_content_on(
    emulator: Emulator, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true is the default for capture_content."""
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, observers=[telemetry.observer()]
    ) as client:
        await client.chat(MODEL, [dv.user("from-the-env-variable")])
    assert "from-the-env-variable" in attrs_of(telemetry.only_span())["gen_ai.input.messages"]


async def test_unsampled_spans_record_metrics_only(emulator: Emulator) -> None:
    """With a sampler that drops everything, no span is exported but metrics still are."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    telemetry = Telemetry()
    telemetry.tracer_provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.spans))
    try:
        async with AsyncClient(
            API_KEY, base_url=emulator.base_url, observers=[telemetry.observer()]
        ) as client:
            await client.chat(MODEL, [dv.user("hi")])
        assert telemetry.finished() == []
        assert len(telemetry.points("gen_ai.client.operation.duration")) == 1
    finally:
        telemetry.shutdown()


_GLOBAL_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    import doubao_vision as dv
    from doubao_vision.emulator import Emulator


    async def main():
        async with Emulator(api_key="k") as base_url:
            async with dv.AsyncClient("k", base_url=base_url) as client:
                await client.chat(dv.MODEL_VISION_PRO, [dv.user("before")])  # no provider: no span
                exporter = InMemorySpanExporter()
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)  # after the client was made
                reader = InMemoryMetricReader()
                meters = MeterProvider(metric_readers=[reader])
                metrics.set_meter_provider(meters)
                await client.chat(dv.MODEL_VISION_PRO, [dv.user("after")])
                print(len(exporter.get_finished_spans()))
                names = [
                    m.name
                    for r in reader.get_metrics_data().resource_metrics
                    for s in r.scope_metrics
                    for m in s.metrics
                ]
                print("gen_ai.client.operation.duration" in names)
                provider.shutdown()
                meters.shutdown()

    asyncio.run(main())
    """
)


def test_global_provider_set_after_the_client_is_picked_up() -> None:
    """The default observer records nothing without providers and follows ones set later."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _GLOBAL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True"]


_ABSENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError("blocked: " + name)
            return None

    sys.meta_path.insert(0, Block())
    import doubao_vision as dv
    from doubao_vision._observe import default_observers
    from doubao_vision.emulator import Emulator

    async def main():
        async with Emulator(api_key="k") as base_url:
            async with dv.AsyncClient("k", base_url=base_url) as client:
                print(await client.ask("fine without opentelemetry"))
                print([type(o).__name__ for o in default_observers()])

    asyncio.run(main())
    """
)


def test_without_opentelemetry_installed_calls_work() -> None:
    """With opentelemetry unimportable, clients are made and calls work, with logging only."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _ABSENT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "prompt: fine without opentelemetry",
        "['LoggingObserver']",
    ]


def test_import_does_not_import_opentelemetry() -> None:
    """`import doubao_vision` leaves opentelemetry unimported (it loads when a client is made)."""
    code = (
        "import sys, doubao_vision; print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
