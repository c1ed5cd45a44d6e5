"""doubao_vision: an async-first SDK for Doubao vision models.

Start with :class:`AsyncClient`; everything public is re-exported here.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._config import (
    ARK_BASE_URL,
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    MODEL_UI_TARS,
    MODEL_VISION_LITE,
    MODEL_VISION_PRO,
    MODEL_VISION_PRO_32K,
    PROVIDER_302_BASE_URL,
    Limits,
    RetryPolicy,
    Timeout,
)
from ._exceptions import (
    ActionParseError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchStoppedError,
    ConflictError,
    ContentFilterFinishReasonError,
    DoubaoVisionError,
    ImageDimensionsError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InternalServerError,
    InvalidRequestError,
    LengthFinishReasonError,
    MissingAPIKeyError,
    NotFoundError,
    OutputValidationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ResponseValidationError,
    ServiceUnavailableError,
    StreamClosedError,
    StreamDecodeError,
    StreamTruncatedError,
    UnprocessableEntityError,
    UnsupportedImageFormatError,
)
from ._extract import to_json_data
from ._http_info import RateLimitInfo, ResponseInfo
from ._images import Image, ImageInput
from ._messages import (
    AssistantMessage,
    ContentPart,
    Extra,
    FunctionCall,
    ImagePart,
    ImagePixelLimit,
    ImageURL,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    VideoPart,
    VideoURL,
    assistant,
    system,
    tool,
    user,
)
from ._models import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionTokensDetails,
    FunctionCallDelta,
    PromptTokensDetails,
    ToolCallDelta,
    Usage,
)
from ._request import ChatParams, ChatRequest
from ._schema import json_schema
from ._sse import ServerSentEvent, SSEDecoder
from ._structured import ParsedCompletion
from ._usage import UsageTotals
from ._version import __version__

if TYPE_CHECKING:
    from ._batch import Batch, BatchInput, BatchResult
    from ._calls import CallObserver, Limiter
    from ._client import AsyncClient
    from ._partial import StructuredStream
    from ._ratelimit import RateLimiter, estimate_tokens
    from ._streaming import AsyncStream
    from ._sync import Client, Stream, SyncStructuredStream
    from ._telemetry import OpenTelemetryObserver

# The client side imports aiohttp and asyncio (about 100 ms here), so it loads on
# first use: models, errors and the SSE decoder import fast, and so does a CLI's
# --help. `from doubao_vision import AsyncClient` works as usual.
_LAZY = {
    "AsyncClient": "._client",
    "AsyncStream": "._streaming",
    "Batch": "._batch",
    "StructuredStream": "._partial",
    "CallObserver": "._calls",
    "Client": "._sync",
    "Limiter": "._calls",
    "Stream": "._sync",
    "SyncStructuredStream": "._sync",
    "OpenTelemetryObserver": "._telemetry",
    "BatchInput": "._batch",
    "BatchResult": "._batch",
    "RateLimiter": "._ratelimit",
    "estimate_tokens": "._ratelimit",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ARK_BASE_URL",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "MODEL_UI_TARS",
    "MODEL_VISION_LITE",
    "MODEL_VISION_PRO",
    "MODEL_VISION_PRO_32K",
    "PROVIDER_302_BASE_URL",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionParseError",
    "AssistantMessage",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchInput",
    "BatchResult",
    "BatchStoppedError",
    "CallObserver",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatParams",
    "ChatRequest",
    "Choice",
    "ChoiceDelta",
    "ChunkChoice",
    "Client",
    "CompletionTokensDetails",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "ContentPart",
    "DoubaoVisionError",
    "Extra",
    "FunctionCall",
    "FunctionCallDelta",
    "Image",
    "ImageDimensionsError",
    "ImageError",
    "ImageInput",
    "ImageNotFoundError",
    "ImagePart",
    "ImagePixelLimit",
    "ImageTooLargeError",
    "ImageURL",
    "InternalServerError",
    "InvalidRequestError",
    "LengthFinishReasonError",
    "Limiter",
    "Limits",
    "Message",
    "MissingAPIKeyError",
    "NotFoundError",
    "OpenTelemetryObserver",
    "OutputValidationError",
    "ParsedCompletion",
    "PermissionDeniedError",
    "PromptTokensDetails",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimiter",
    "RequestTooLargeError",
    "ResponseInfo",
    "ResponseValidationError",
    "RetryPolicy",
    "SSEDecoder",
    "ServerSentEvent",
    "ServiceUnavailableError",
    "Stream",
    "StreamClosedError",
    "StreamDecodeError",
    "StreamTruncatedError",
    "StructuredStream",
    "SyncStructuredStream",
    "SystemMessage",
    "TextPart",
    "Timeout",
    "ToolCall",
    "ToolCallDelta",
    "ToolMessage",
    "UnprocessableEntityError",
    "UnsupportedImageFormatError",
    "Usage",
    "UsageTotals",
    "UserMessage",
    "VideoPart",
    "VideoURL",
    "__version__",
    "assistant",
    "estimate_tokens",
    "json_schema",
    "system",
    "to_json_data",
    "tool",
    "user",
]
