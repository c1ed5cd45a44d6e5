"""The observers every client installs: logging always, OpenTelemetry when it is installed.

Logging (logger ``doubao_vision``):

- DEBUG: one line per attempt (method, URL path, model, attempt, status,
  elapsed to the response headers, server and client request ids, bytes sent);
  an attempt that gets no answer (a dropped connection, a timeout) gets its own
  line; a stream gets one more line when it closes (chunks, time to first chunk).
- INFO: retries and cool-downs (logged by the call itself).
- WARNING: an answer cut off by the token limit (``finish_reason == "length"``),
  a retired model (once per model and client; ``ChatRequest`` also raises a
  ``DeprecationWarning``, which a warnings filter may hide).

The key is never logged (the call's headers are never read here), and neither
are prompt text nor images, unless the user opts in by setting the
``doubao_vision.content`` logger's *own* level to DEBUG. Its own level, not the
effective one: ``logging.basicConfig(level=logging.DEBUG)`` must not start
writing prompts into log files. Even then an image is described (media type,
size, dimensions, a remote URL), never its bytes.

Each hook asks ``isEnabledFor`` once (the logging module caches the answer), so
a client at the default WARNING level pays a few attribute loads per call.

Rate-limit headers and pacing: ``x-ratelimit-*`` headers are parsed into
``result.http.rate_limit`` for the user, but the limiter does not pace on them.
They describe a window the gateway shares among every client of the key (other
processes, other machines), reported after the fact and rounded (``6m0s``), and
302.AI and Ark do not send them at all; pacing on ``remaining`` would make one
client's rate depend on what others did a moment ago, while the limiter's own
RPM/TPM buckets and its 429 cool-down already bound what this client sends. The
one safe use, a cool-down when the server says the window is empty, is
described in the report of issue #14 as a proposal for the limiter.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson

from ._content import input_messages, output_messages
from ._exceptions import APIStatusError
from ._facts import RETIRED_MODELS, RETIREMENT_DATE
from ._headers import server_request_id
from ._models import ChatCompletion

if TYPE_CHECKING:
    from ._calls import Call, CallObserver
    from ._exceptions import DoubaoVisionError

__all__ = ["CONTENT_LOGGER", "LoggingObserver", "content_logging", "default_observers"]

log = logging.getLogger("doubao_vision")
CONTENT_LOGGER = "doubao_vision.content"
content_log = logging.getLogger(CONTENT_LOGGER)

_DEBUG = logging.DEBUG
_WARNING = logging.WARNING


def content_logging() -> bool:
    """Whether the user opted in to prompt and answer text in logs (see the module doc)."""
    return content_log.level != logging.NOTSET and content_log.isEnabledFor(_DEBUG)


def default_observers() -> list[CallObserver]:
    """The hooks a new client runs for every call: logging, and OpenTelemetry if installed.

    ``opentelemetry`` is imported here, when the first client is made, never on
    ``import doubao_vision``.
    """
    from ._telemetry import global_telemetry

    observers: list[CallObserver] = [LoggingObserver()]
    telemetry = global_telemetry()
    if telemetry is not None:
        observers.append(telemetry)
    return observers


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _model(call: Call) -> str:
    request = call.request
    return request.model if request is not None else "-"


class LoggingObserver:
    """Logs each call as the module docstring describes. One per client."""

    __slots__ = ("_warned_models",)

    def __init__(self) -> None:
        self._warned_models: set[str] = set()

    def call_started(self, call: Call) -> None:
        request = call.request
        if request is None:
            return
        model = request.model
        if model in RETIRED_MODELS and model not in self._warned_models:
            self._warned_models.add(model)
            if log.isEnabledFor(_WARNING):
                log.warning(
                    "model %s was retired on %s; the server answers with %s: ask for it by name",
                    model,
                    RETIREMENT_DATE,
                    RETIRED_MODELS[model],
                )
        if content_logging():
            content_log.debug(
                "request %s to %s: %s",
                call.client_request_id,
                model,
                orjson.dumps(input_messages(request.messages)).decode(),
            )

    def attempt_answered(self, call: Call) -> None:
        if not log.isEnabledFor(_DEBUG):
            return
        log.debug(
            "%s %s model=%s attempt=%d status=%s elapsed=%.3fs request_id=%s "
            "client_request_id=%s sent=%s",
            call.method,
            _path(call.url),
            _model(call),
            call.retries + 1,
            call.status,
            _since(call.attempt_started_at),
            server_request_id(call.response_headers) or "-",
            call.client_request_id,
            "-" if call.body_size is None else f"{call.body_size}B",
        )

    def attempt_failed(self, call: Call, error: DoubaoVisionError, delay: float | None) -> None:
        # An answered attempt already has its line (with its status); this one
        # is for attempts that got no status line: dropped, timed out, refused.
        if isinstance(error, APIStatusError) or not log.isEnabledFor(_DEBUG):
            return
        log.debug(
            "%s %s model=%s attempt=%d failed elapsed=%.3fs error=%s client_request_id=%s sent=%s",
            call.method,
            _path(call.url),
            _model(call),
            call.retries + 1,
            _since(call.attempt_started_at),
            type(error).__name__,
            call.client_request_id,
            "-" if call.body_size is None else f"{call.body_size}B",
        )

    def call_finished(self, call: Call, result: object, error: BaseException | None) -> None:
        if isinstance(result, ChatCompletion):
            if log.isEnabledFor(_WARNING):
                _warn_if_cut(call, result)
            if content_logging():
                content_log.debug(
                    "answer %s: %s",
                    call.client_request_id,
                    orjson.dumps(output_messages(result)).decode(),
                )
        if call.kind == "stream" and log.isEnabledFor(_DEBUG):
            first = call.first_chunk_at
            ended = call.ended_at
            log.debug(
                "stream closed model=%s chunks=%d time_to_first_chunk=%s elapsed=%s "
                "outcome=%s client_request_id=%s",
                _model(call),
                call.chunks,
                "-" if first is None else f"{first - call.started_at:.3f}s",
                "-" if ended is None else f"{ended - call.started_at:.3f}s",
                "completed" if error is None else type(error).__name__,
                call.client_request_id,
            )


def _since(start: float) -> float:
    return time.perf_counter() - start


def _warn_if_cut(call: Call, completion: ChatCompletion) -> None:
    for choice in completion.choices:  # every call runs this: a loop, not a generator
        if choice.finish_reason == "length":
            break
    else:
        return
    request = call.request
    limit = None
    if request is not None:
        limit = request.max_tokens or request.max_completion_tokens
    usage = completion.usage
    log.warning(
        "the answer was cut off by the token limit (finish_reason=length, max_tokens=%s, "
        "%s output tokens): raise max_tokens; model %s, request id %s, client request id %s",
        limit if limit is not None else "default",
        usage.completion_tokens if usage is not None else "?",
        completion.model or _model(call),
        completion.request_id or server_request_id(call.response_headers) or "-",
        call.client_request_id,
    )
