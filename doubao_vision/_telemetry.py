"""OpenTelemetry for every call: one GenAI span per call and the GenAI client histograms.

Follows OpenTelemetry's GenAI semantic conventions (inference spans and client
metrics; the conventions are "Development" status and now live in
open-telemetry/semantic-conventions-genai): span ``chat {model}`` of kind
CLIENT with ``gen_ai.*`` request, response and usage attributes,
``server.address``/``server.port``, ``error.type`` (the SDK's exception class,
e.g. ``doubao_vision.RateLimitError``) and an event per retry; histograms
``gen_ai.client.operation.duration`` (s), ``gen_ai.client.token.usage``
({token}, per ``gen_ai.token.type``) and, for streams,
``gen_ai.client.operation.time_to_first_chunk`` (s), each with the bucket
boundaries the conventions advise. ``GET /models`` is a ``list_models``
operation (not a GenAI operation name the conventions define).

Only ``opentelemetry-api`` is needed (the ``otel`` extra); it is imported when
a client is made, never on ``import doubao_vision``, and a missing package
means no observer at all.

Cost without a configured provider: the default observer follows the global
providers. Each call asks ``get_tracer_provider()`` and ``get_meter_provider()``
(two function calls, an environment lookup each) and compares them with the
last ones seen; while both are OpenTelemetry's proxy or no-op providers the
hooks return at once and nothing is allocated. A provider set later (after the
client was made) is picked up by the next call.

The span is started from the caller's context when the call starts (so it nests
under the caller's span) but is not made current while the call runs: a
stream's span outlives the ``async with`` that opened it, and attaching a
context across a generator's suspensions would corrupt the caller's context.
It ends when the call ends however it ends, for a stream when it closes.

Prompt, image and answer content is recorded (``gen_ai.input.messages``,
``gen_ai.output.messages``, JSON strings) only if ``capture_content=True`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true`` (the
variable OpenTelemetry's own GenAI instrumentations read); even then images are
described, never copied.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import orjson

from ._content import input_messages, output_messages
from ._exceptions import APIStatusError
from ._models import ChatCompletion
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from ._calls import Call
    from ._exceptions import DoubaoVisionError

__all__ = ["OpenTelemetryObserver", "global_telemetry"]

# The conventions have no well-known value for ByteDance; this follows the
# pattern of theirs ("aws.bedrock", "azure.ai.openai"). gen_ai.system (its
# deprecated predecessor) carries the same value for older backends.
PROVIDER = "volcengine.ark"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# The conventions define no retry event; ours is namespaced so it cannot clash.
RETRY_EVENT = "doubao_vision.retry"
# The bucket boundaries the GenAI metric conventions advise: seconds from 0.01
# doubling to 81.92, tokens in powers of 4 from 1 to 4**13.
DURATION_BUCKETS = tuple(0.01 * 2**n for n in range(14))
TOKEN_BUCKETS = tuple(4**n for n in range(14))
# Variables naming a provider class for the API to load (then its getters are needed).
_TRACER_ENV = "OTEL_PYTHON_TRACER_PROVIDER"
_METER_ENV = "OTEL_PYTHON_METER_PROVIDER"

_OPERATIONS = {"chat": "chat", "stream": "chat", "models": "list_models"}


def global_telemetry() -> OpenTelemetryObserver | None:
    """An observer following the global providers, or None without ``opentelemetry-api``."""
    try:
        return OpenTelemetryObserver()
    except ImportError:
        return None


def _global_getter(
    module: object, name: str, public: Callable[[], object], env: str
) -> Callable[[], object]:
    """A cheap way to read a global provider: None while none is set.

    The API's public getters look the environment up on every call (for a
    provider named there), a few microseconds each; a call would pay that twice
    with nothing configured. So, unless such a variable is set, read the
    module global the setter writes, and fall back to the public getter if a
    future API version renames it.
    """
    if env in os.environ or not hasattr(module, name):
        return public

    def read() -> object:
        return getattr(module, name)

    return read


def _capture_from_env() -> bool:
    value = os.environ.get(CAPTURE_ENV, "").strip().lower()
    return value in {"1", "true", "yes", "span_only", "span_and_event"}


def error_type(error: BaseException) -> str:
    """A low-cardinality name for ``error``: ``doubao_vision.RateLimitError``,
    ``asyncio.CancelledError``, ``TimeoutError``."""
    cls = type(error)
    module = cls.__module__
    if module.startswith("doubao_vision"):
        return f"doubao_vision.{cls.__qualname__}"
    if module == "builtins":
        return cls.__qualname__
    if module.startswith("asyncio"):
        return f"asyncio.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


class _Open:
    """What the observer keeps of one call between its start and its end."""

    __slots__ = ("attributes", "span", "started")

    def __init__(self, span: Span | None, attributes: dict[str, Any]) -> None:
        self.span = span
        self.attributes = attributes
        self.started = time.perf_counter()


class _Instruments:
    __slots__ = ("duration", "first_chunk", "tokens")

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter("doubao_vision", __version__)
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.tokens: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.first_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time to receive the first chunk in a streaming operation.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )


class OpenTelemetryObserver:
    """A :class:`CallObserver` that records GenAI spans and metrics (see the module doc).

    Every client installs one that follows the global providers. Pass providers
    of your own only for a client whose calls should go elsewhere (tests, for
    one), with no global provider set, or each call is recorded twice.

    Args:
        tracer_provider: spans go here instead of the global provider.
        meter_provider: metrics go here instead of the global provider.
        capture_content: record prompts and answers (images described, never
            copied); default: the ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
            environment variable.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | None = None,
    ) -> None:
        from opentelemetry import metrics, trace

        # The metrics API keeps its global (and proxy class) in _internal; guarded below.
        from opentelemetry.metrics import _internal as metrics_internal
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._get_tracer_provider: Callable[[], object] = (
            _global_getter(trace, "_TRACER_PROVIDER", trace.get_tracer_provider, _TRACER_ENV)
            if tracer_provider is None
            else lambda: tracer_provider
        )
        self._get_meter_provider: Callable[[], object] = (
            _global_getter(
                metrics_internal, "_METER_PROVIDER", metrics.get_meter_provider, _METER_ENV
            )
            if meter_provider is None
            else lambda: meter_provider
        )
        self._idle_tracers: tuple[type, ...] = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
        proxy_meter = getattr(metrics_internal, "_ProxyMeterProvider", None)
        idle_meters: list[type] = [metrics.NoOpMeterProvider]
        if isinstance(proxy_meter, type):
            idle_meters.append(proxy_meter)
        self._idle_meters = tuple(idle_meters)
        self._client_kind = SpanKind.CLIENT
        self._error_status = Status
        self._error_code = StatusCode.ERROR
        self._capture = _capture_from_env() if capture_content is None else capture_content
        self._tracer_provider: object = None
        self._meter_provider: object = None
        self._tracer: Tracer | None = None
        self._instruments: _Instruments | None = None
        self._open: dict[int, _Open] = {}
        self._servers: dict[str, tuple[str, int]] = {}

    # -- providers -------------------------------------------------------------

    def _refresh(self) -> None:
        provider = self._get_tracer_provider()
        if provider is not self._tracer_provider:
            self._tracer_provider = provider
            self._tracer = (
                None
                if provider is None or isinstance(provider, self._idle_tracers)
                else cast("TracerProvider", provider).get_tracer("doubao_vision", __version__)
            )
        meters = self._get_meter_provider()
        if meters is not self._meter_provider:
            self._meter_provider = meters
            self._instruments = (
                None
                if meters is None or isinstance(meters, self._idle_meters)
                else _Instruments(cast("MeterProvider", meters))
            )

    def _server(self, url: str) -> tuple[str, int]:
        server = self._servers.get(url)
        if server is None:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            server = self._servers[url] = (parts.hostname or "", port)
        return server

    # -- hooks -----------------------------------------------------------------

    def call_started(self, call: Call) -> None:
        self._refresh()
        tracer = self._tracer
        if tracer is None and self._instruments is None:
            return
        operation = _OPERATIONS.get(call.kind, call.kind)
        address, port = self._server(call.url)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": PROVIDER,
            "server.address": address,
            "server.port": port,
        }
        request = call.request
        if request is not None:
            attributes["gen_ai.request.model"] = request.model
        span = None
        if tracer is not None:
            span_attributes = {**attributes, "gen_ai.system": PROVIDER}
            if request is not None:
                _request_attributes(span_attributes, request, call.kind == "stream")
            name = f"{operation} {request.model}" if request is not None else operation
            span = tracer.start_span(name, kind=self._client_kind, attributes=span_attributes)
            if self._capture and request is not None and span.is_recording():
                span.set_attribute(
                    "gen_ai.input.messages",
                    orjson.dumps(input_messages(request.messages)).decode(),
                )
        self._open[id(call)] = _Open(span, attributes)

    def attempt_answered(self, call: Call) -> None:
        pass  # the status and headers are read once, when the call ends

    def attempt_failed(self, call: Call, error: DoubaoVisionError, delay: float | None) -> None:
        if delay is None:
            return  # the call's error: recorded when it finishes
        state = self._open.get(id(call))
        if state is None or state.span is None:
            return
        event: dict[str, Any] = {
            "retry.attempt": call.retries + 1,
            "retry.delay": delay,
            "error.type": error_type(error),
        }
        if isinstance(error, APIStatusError):
            event["http.response.status_code"] = error.status_code
        state.span.add_event(RETRY_EVENT, event)

    def call_finished(self, call: Call, result: object, error: BaseException | None) -> None:
        state = self._open.pop(id(call), None)
        if state is None:
            return
        ended = time.perf_counter()
        attributes = state.attributes
        completion = result if isinstance(result, ChatCompletion) else None
        if completion is not None and completion.model:
            attributes["gen_ai.response.model"] = completion.model
        if error is not None:
            attributes["error.type"] = error_type(error)
        first_chunk = call.first_chunk_at
        span = state.span
        if span is not None:
            if span.is_recording():
                self._finish_span(span, call, completion, error, state.started, first_chunk)
            span.end()
        instruments = self._instruments
        if instruments is None:
            return
        instruments.duration.record(ended - state.started, attributes)
        if first_chunk is not None and call.kind == "stream":
            instruments.first_chunk.record(max(0.0, first_chunk - state.started), attributes)
        usage = completion.usage if completion is not None else None
        if usage is not None:
            instruments.tokens.record(
                usage.prompt_tokens, {**attributes, "gen_ai.token.type": "input"}
            )
            instruments.tokens.record(
                usage.completion_tokens, {**attributes, "gen_ai.token.type": "output"}
            )

    def _finish_span(
        self,
        span: Span,
        call: Call,
        completion: ChatCompletion | None,
        error: BaseException | None,
        started: float,
        first_chunk: float | None,
    ) -> None:
        values: dict[str, Any] = {"doubao_vision.client_request_id": call.client_request_id}
        if call.status is not None:
            values["http.response.status_code"] = call.status
        if call.retries:
            values["doubao_vision.retries"] = call.retries
        if call.kind == "stream":
            values["doubao_vision.chunks"] = call.chunks
            if first_chunk is not None:
                values["gen_ai.response.time_to_first_chunk"] = max(0.0, first_chunk - started)
        if completion is not None:
            _response_attributes(values, completion)
            if self._capture:
                values["gen_ai.output.messages"] = orjson.dumps(
                    output_messages(completion)
                ).decode()
        if error is not None:
            values["error.type"] = error_type(error)
            if isinstance(error, APIStatusError):
                values["http.response.status_code"] = error.status_code
                if error.request_id:
                    values["doubao_vision.request_id"] = error.request_id
        span.set_attributes(values)
        if error is not None:
            # The class name, not the message: a server's message may quote the input.
            span.set_status(self._error_status(self._error_code, error_type(error)))


def _request_attributes(values: dict[str, Any], request: Any, stream: bool) -> None:
    max_tokens = request.max_tokens or request.max_completion_tokens
    if max_tokens is not None:
        values["gen_ai.request.max_tokens"] = max_tokens
    if request.temperature is not None:
        values["gen_ai.request.temperature"] = float(request.temperature)
    if request.top_p is not None:
        values["gen_ai.request.top_p"] = float(request.top_p)
    if request.seed is not None:
        values["gen_ai.request.seed"] = request.seed
    stop = request.stop
    if stop is not None:
        values["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if request.response_format is not None:
        kind = request.response_format.get("type")
        values["gen_ai.output.type"] = "text" if kind == "text" else "json"
    if stream:
        values["gen_ai.request.stream"] = True


def _response_attributes(values: dict[str, Any], completion: ChatCompletion) -> None:
    if completion.id:
        values["gen_ai.response.id"] = completion.id
    if completion.model:
        values["gen_ai.response.model"] = completion.model
    values["gen_ai.response.finish_reasons"] = [
        choice.finish_reason or "" for choice in completion.choices
    ]
    if completion.request_id:
        values["doubao_vision.request_id"] = completion.request_id
    usage = completion.usage
    if usage is not None:
        values["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        values["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if usage.reasoning_tokens:
            values["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
        if usage.cached_tokens:
            values["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
