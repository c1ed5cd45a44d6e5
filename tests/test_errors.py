"""Every error shape maps to its typed exception, with code, ids and body."""

from __future__ import annotations

import pytest

import doubao_vision as dv
from doubao_vision import AsyncClient, RetryPolicy
from doubao_vision.emulator import Emulator, Fault

from .conftest import API_KEY


@pytest.fixture
async def no_retry(emulator: Emulator) -> AsyncClient:
    client = AsyncClient(API_KEY, base_url=emulator.base_url, retry=RetryPolicy(max_retries=0))
    yield client  # type: ignore[misc]
    await client.aclose()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, dv.BadRequestError),
        (401, dv.AuthenticationError),
        (403, dv.PermissionDeniedError),
        (404, dv.NotFoundError),
        (409, dv.ConflictError),
        (413, dv.RequestTooLargeError),
        (422, dv.UnprocessableEntityError),
        (429, dv.RateLimitError),
        (500, dv.InternalServerError),
        (502, dv.InternalServerError),
        (503, dv.ServiceUnavailableError),
        (418, dv.APIStatusError),
    ],
)
async def test_status_maps_to_class(
    no_retry: AsyncClient, emulator: Emulator, status: int, cls: type
) -> None:
    """Each HTTP status raises its APIStatusError subclass carrying status, code and ids."""
    emulator.script(Fault.error(status, code="SomeCode", message="boom"))
    with pytest.raises(cls) as info:
        await no_retry.ask("x")
    error = info.value
    assert type(error) is cls
    assert error.status_code == status and error.code == "SomeCode"
    assert error.message.startswith("boom")
    assert error.request_id and error.client_request_id
    assert error.request_id in str(error)
    assert isinstance(error.body, dict)


async def test_ark_error_shape_fields(no_retry: AsyncClient, emulator: Emulator) -> None:
    """Ark's {"error": {code, message, param, type}} fills code, param and type."""
    emulator.script(Fault.error(400, code="InvalidParameter", message="bad", type="BadRequest"))
    with pytest.raises(dv.BadRequestError) as info:
        await no_retry.ask("x")
    assert info.value.code == "InvalidParameter" and info.value.type == "BadRequest"


async def test_302_error_shape_fields(no_retry: AsyncClient, emulator: Emulator) -> None:
    """302.AI's {"error": {err_code, message, message_cn, type}} fills code from err_code."""
    emulator.script(Fault.unavailable())
    with pytest.raises(dv.ServiceUnavailableError) as info:
        await no_retry.ask("x")
    assert info.value.code == "-10008" and info.value.status_code == 503
    assert "No available models" in info.value.message


async def test_server_validation_error_is_bad_request(
    no_retry: AsyncClient, emulator: Emulator
) -> None:
    """The emulator's own 400 InvalidParameter (model 'unknown-*' -> 404) maps by status."""
    with pytest.raises(dv.NotFoundError) as info:
        await no_retry.chat("unknown-model", [dv.user("x")])
    assert info.value.code and info.value.code.startswith("InvalidEndpointOrModel")


async def test_html_error_body_gives_typed_error_with_snippet(
    no_retry: AsyncClient, emulator: Emulator
) -> None:
    """A non-JSON (HTML) error page still gives the typed error with a short snippet."""
    emulator.script(Fault.html(502))
    with pytest.raises(dv.InternalServerError) as info:
        await no_retry.ask("x")
    assert "non-JSON error body" in info.value.message
    assert len(info.value.message) < 300 and "<" in info.value.message


async def test_drop_before_headers_is_connection_error(
    no_retry: AsyncClient, emulator: Emulator
) -> None:
    """A connection dropped before any response is an APIConnectionError, not an aiohttp error."""
    emulator.script(Fault.drop_before_headers())
    with pytest.raises(dv.APIConnectionError) as info:
        await no_retry.ask("x")
    assert not isinstance(info.value, dv.APITimeoutError)
    assert info.value.client_request_id


async def test_drop_after_headers_is_connection_error(
    no_retry: AsyncClient, emulator: Emulator
) -> None:
    """A body cut after the headers is an APIConnectionError."""
    emulator.script(Fault.drop_after_headers())
    with pytest.raises(dv.APIConnectionError):
        await no_retry.ask("x")


async def test_stall_is_timeout_error(emulator: Emulator) -> None:
    """A server that never answers raises APITimeoutError (also a TimeoutError) within the limit."""
    emulator.script(Fault.stall(30))
    async with AsyncClient(
        API_KEY, base_url=emulator.base_url, timeout=dv.Timeout(read=0.3), max_retries=0
    ) as client:
        with pytest.raises(TimeoutError) as info:
            await client.ask("x")
    assert isinstance(info.value, dv.APITimeoutError)


async def test_per_call_timeout_overrides_client(emulator: Emulator) -> None:
    """timeout= on a call replaces the client's Timeout for that call only."""
    emulator.script(Fault.stall(30))
    async with AsyncClient(API_KEY, base_url=emulator.base_url, max_retries=0) as client:
        with pytest.raises(dv.APITimeoutError):
            await client.ask("x", timeout=0.3)
        assert await client.ask("y") == "prompt: y"


async def test_connection_refused_is_connection_error() -> None:
    """Nothing listening: APIConnectionError after the retries, never an aiohttp exception."""
    policy = RetryPolicy(max_retries=1, initial_delay=0.01)
    async with AsyncClient("k", base_url="http://127.0.0.1:9/v1", retry=policy) as client:
        with pytest.raises(dv.APIConnectionError):
            await client.ask("x")
        assert client.usage.retries == 1


async def test_200_with_error_body_raises(no_retry: AsyncClient, emulator: Emulator) -> None:
    """A 200 whose JSON body is an error object raises the error its code means."""
    from doubao_vision._answers import error_from_payload

    error = error_from_payload(
        {"error": {"code": "RateLimitExceeded.EndpointRPMExceeded", "message": "slow"}}, status=200
    )
    assert isinstance(error, dv.RateLimitError)
