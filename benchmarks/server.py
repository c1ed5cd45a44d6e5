"""The benchmarks' fake Ark server: a raw ``asyncio.Protocol`` HTTP/1.1 server.

Usage: ``python benchmarks/server.py [--chunks N] [--delay-ms MS]`` prints
``port <n>`` once it listens on 127.0.0.1, then serves until stdin closes.

It is built to cost far less CPU than any client it serves: no HTTP library,
responses prepared ahead, one ``transport.write`` per response (or per event
when events are paced). It still does the work that keeps every client honest:

- it reads every request body in full (``Content-Length`` or chunked);
- a completion's text is derived from the request: for an inline image, the
  length and CRC-32 of its base64 text (``"b64 <len> <crc32>"``), so a client
  that skipped or mangled the image gets the wrong answer; for no image,
  ``"no image"``;
- a request with ``"stream": true`` gets an SSE stream in Ark's chunk format
  (``--chunks`` content chunks, a finish chunk, an include_usage chunk, then
  ``data: [DONE]``) with chunked transfer encoding, paced ``--delay-ms`` apart
  or written at once when the delay is 0.

``GET /__stats`` answers the server's own CPU seconds (user+sys), so the
harness can show how little of the machine the server took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import zlib

MODEL = "doubao-1-5-vision-pro-250328"
REQUEST_ID = "021718000000000" + "0123456789abcdef" * 2
# What the stream says, a piece per chunk (some CJK, so every decoder meets UTF-8).
WORDS = ("The", " image", " shows", " a", " red", " bicycle", " near", " 海边", ".")


def pin_to_cpu() -> None:
    """Run on the one core the harness names in DOUBAO_BENCH_CPU, if it names one."""
    cpu = os.environ.get("DOUBAO_BENCH_CPU")
    if cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})


def stream_text(chunks: int) -> str:
    """The text a stream of ``chunks`` content chunks spells out."""
    return "".join(WORDS[i % len(WORDS)] for i in range(chunks))


def image_answer(b64: bytes | memoryview) -> str:
    """The completion text for a request whose image has this base64 text."""
    return f"b64 {len(b64)} {zlib.crc32(b64):08x}"


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _usage(completion_tokens: int) -> dict[str, object]:
    return {
        "completion_tokens": completion_tokens,
        "prompt_tokens": 521,
        "total_tokens": 521 + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def completion_body(text: str) -> bytes:
    return _dumps(
        {
            "choices": [
                {
                    "finish_reason": "stop",
                    "index": 0,
                    "logprobs": None,
                    "message": {"content": text, "role": "assistant"},
                }
            ],
            "created": 1742636149,
            "id": REQUEST_ID,
            "model": MODEL,
            "service_tier": "default",
            "object": "chat.completion",
            "usage": _usage(85),
        }
    )


def _chunk(choices: list[dict[str, object]], usage: object = None) -> bytes:
    return _dumps(
        {
            "choices": choices,
            "created": 1765713048,
            "id": REQUEST_ID,
            "model": MODEL,
            "service_tier": "default",
            "object": "chat.completion.chunk",
            "usage": usage,
        }
    )


def stream_events(chunks: int) -> list[bytes]:
    """Each SSE event of one stream, already framed as an HTTP chunk."""
    datas = []
    for i in range(chunks):
        delta: dict[str, object] = {"content": WORDS[i % len(WORDS)]}
        if i == 0:
            delta["role"] = "assistant"
        datas.append(_chunk([{"delta": delta, "index": 0}]))
    datas.append(_chunk([{"delta": {"content": ""}, "finish_reason": "stop", "index": 0}]))
    datas.append(_chunk([], _usage(chunks)))
    datas.append(b"[DONE]")
    events = []
    for data in datas:
        event = b"data: " + data + b"\n\n"
        events.append(b"%x\r\n%s\r\n" % (len(event), event))
    return events


def _head(status: str, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{framing}\r\n"
        f"X-Request-Id: {REQUEST_ID}\r\n\r\n"
    ).encode()


class Canned:
    """Everything the server says, prepared once."""

    def __init__(self, chunks: int, delay: float) -> None:
        self.delay = delay
        self.events = stream_events(chunks)
        self.stream_head = _head("200 OK", "text/event-stream; charset=utf-8", None)
        # Unpaced streams go out in one write: head, every event, the last chunk.
        self.stream_whole = self.stream_head + b"".join(self.events) + b"0\r\n\r\n"
        self.no_image = self.json(completion_body("no image"))

    @staticmethod
    def json(body: bytes, status: str = "200 OK") -> bytes:
        return _head(status, "application/json", len(body)) + body


class HTTPProtocol(asyncio.Protocol):
    """One keep-alive connection: parse requests as bytes arrive, answer each.

    A ``Content-Length`` body is kept as the list of pieces the socket gave and
    joined once (a 13 MB body is copied once, not once per read).
    """

    def __init__(self, canned: Canned) -> None:
        self.canned = canned
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()  # bytes not yet parsed (heads, chunked bodies)
        self.scan = 0  # where the search for the header end resumes
        self.head: tuple[str, str, int, bool, bool] | None = None
        self.parts: list[bytes] = []  # a Content-Length body, as received
        self.have = 0
        self.body = bytearray()  # a chunked request body, de-chunked
        self.timer: asyncio.TimerHandle | None = None
        self.busy = False  # a paced stream is being written

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        head = self.head
        if head is not None and not head[3] and not self.buf:
            # The common case: more of a Content-Length body.
            self.parts.append(data)
            self.have += len(data)
            if self.have < head[2]:
                return
            data = self._finish_body(head)
            if not data:
                return
        self.buf += data
        while self.transport is not None and not self.busy and self._step():
            pass

    def _finish_body(self, head: tuple[str, str, int, bool, bool]) -> bytes:
        """Answer the request whose body is complete; return the bytes after it."""
        body = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        rest = b""
        if len(body) > head[2]:
            body, rest = body[: head[2]], body[head[2] :]
        self.parts, self.have, self.head = [], 0, None
        self._answer(head[0], head[1], body, head[4])
        return rest

    def _step(self) -> bool:
        """Make what progress the buffer allows; True to be called again."""
        buf = self.buf
        if self.head is None:
            end = buf.find(b"\r\n\r\n", max(0, self.scan - 3))
            if end < 0:
                self.scan = len(buf)
                return False
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            self.scan = 0
            method, path, _ = lines[0].split(" ", 2)
            length, chunked, close = 0, False, False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                elif name == "connection":
                    close = value.strip().lower() == "close"
            self.head = (method, path, length, chunked, close)
        head = self.head
        if head[3]:
            body = self._dechunk()
            if body is None:
                return False
            self.head = None
            self._answer(head[0], head[1], body, head[4])
            return True
        # Content-Length: hand what is buffered to the piece list.
        if buf:
            self.parts.append(bytes(buf))
            self.have += len(buf)
            buf.clear()
        if self.have < head[2]:
            return False
        rest = self._finish_body(head)
        buf += rest
        return bool(rest)

    def _dechunk(self) -> bytes | None:
        buf = self.buf
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                return None
            size = int(bytes(buf[:line_end]).split(b";")[0], 16)
            if size == 0:
                # No trailers from our clients: the last chunk ends in an empty line.
                if len(buf) < line_end + 4:
                    return None
                del buf[: line_end + 4]
                body, self.body = bytes(self.body), bytearray()
                return body
            if len(buf) < line_end + 2 + size + 2:
                return None
            self.body += memoryview(buf)[line_end + 2 : line_end + 2 + size]
            del buf[: line_end + 2 + size + 2]

    def _answer(self, method: str, path: str, body: bytes, close: bool) -> None:
        transport = self.transport
        assert transport is not None
        canned = self.canned
        if method == "GET" and path == "/__stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            transport.write(
                canned.json(_dumps({"cpu": cpu, "user": usage.ru_utime, "sys": usage.ru_stime}))
            )
            return
        if method != "POST" or not path.endswith("/chat/completions"):
            transport.write(canned.json(b'{"error":{"message":"not found"}}', "404 Not Found"))
            return
        # The image's base64 text holds no quote, so the rest of the JSON is what
        # lies outside it: only that is searched for "stream".
        start = body.find(b";base64,")
        if start >= 0:
            start += 8
            end = body.index(b'"', start)
            rest = body[:start] + body[end:]
        else:
            end, rest = -1, body
        if b'"stream":true' in rest or b'"stream": true' in rest:
            if canned.delay:
                self.busy = True
                transport.write(canned.stream_head + canned.events[0])
                self._pace(1, close)
                return
            transport.write(canned.stream_whole)
        elif start < 0:
            transport.write(canned.no_image)
        else:
            answer = image_answer(memoryview(body)[start:end])
            transport.write(canned.json(completion_body(answer)))
        if close:
            transport.close()

    def _pace(self, index: int, close: bool) -> None:
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.canned.delay, self._next_event, index, close)

    def _next_event(self, index: int, close: bool) -> None:
        self.timer = None
        transport = self.transport
        if transport is None:
            return
        events = self.canned.events
        if index < len(events):
            transport.write(events[index])
            self._pace(index + 1, close)
            return
        transport.write(b"0\r\n\r\n")
        self.busy = False
        if close:
            transport.close()
        elif self.buf:
            self.data_received(b"")


async def serve(chunks: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    canned = Canned(chunks, delay)
    server = await loop.create_server(
        lambda: HTTPProtocol(canned), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    # Serve until the harness closes our stdin (or dies).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=500, help="content chunks per stream")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="pause between events")
    args = parser.parse_args()
    pin_to_cpu()
    asyncio.run(serve(args.chunks, args.delay_ms / 1000))


if __name__ == "__main__":
    main()
