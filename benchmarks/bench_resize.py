"""Bytes on the wire and wall time per request for 12 MP photos, with and without resizing.

Usage: ``python benchmarks/bench_resize.py [--mbit 20] [--rounds 3] [--smoke]``

Starts its own server in a separate process (this file with ``--serve``): a raw
asyncio HTTP/1.1 server on 127.0.0.1 that reads each request body no faster
than ``--mbit`` Mbit/s (a phone's or office uplink; small socket buffers so the
client feels it) and answers a minimal chat completion naming the bytes it
received. Then, in this process, for each round and each photo it sends the
same request three ways, alternating:

- ``as is``: the photo's JPEG as it came (a 4000x3000 photo of noise over
  gradients: a few MB, like a phone's);
- ``resized, low``: resized to ``detail: low``'s 1,048,576-pixel budget first;
- ``resized, high``: resized to ``detail: high``'s 4,014,080 pixels first.

Resizing runs in the SDK's ``ImagePool`` (``prepare_images``) and its time is
part of the wall time. A 48 MP photo (over 36 MP: refused as is) shows what
resizing makes sendable. Figures are medians per request over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import doubao_vision as dv  # noqa: E402 -- after the path set-up above
from doubao_vision._prepare import ImagePool, prepare_images  # noqa: E402 -- not exported yet

MODEL = "doubao-1-5-vision-pro-250328"


# -- the throttled server (its own process) -----------------------------------------------


def _completion(received: int) -> bytes:
    body = json.dumps(
        {
            "id": "bench",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"received {received}"},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def _serve(mbit: float) -> None:
    rate = mbit * 1e6 / 8  # bytes per second

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                started, received = time.perf_counter(), 0
                while received < length:
                    chunk = await reader.read(min(32 * 1024, length - received))
                    if not chunk:
                        return
                    received += len(chunk)
                    ahead = received / rate - (time.perf_counter() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                writer.write(_completion(len(head) + received))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    sock = socket.socket()
    # A small receive buffer: the kernel must not soak up megabytes the "uplink" never carried.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock, limit=64 * 1024)
    print("port", sock.getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the harness closes stdin
    server.close()


# -- the harness ---------------------------------------------------------------------------


def _photo(width: int, height: int, seed: int) -> bytes:
    from PIL import Image as PILImage

    across = PILImage.linear_gradient("L").resize((width, height))
    noise = PILImage.effect_noise((width, height), 40 + seed)
    picture = PILImage.merge(
        "RGB", (across, noise, across.rotate(90 * seed).resize((width, height)))
    )
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=88)
    return out.getvalue()


def _request(image: dv.Image, detail: str | None) -> dv.ChatRequest:
    part = dv.ImagePart(dv.ImageURL(image, detail))  # type: ignore[arg-type]
    return dv.ChatRequest(model=MODEL, messages=[dv.UserMessage([dv.TextPart("What?"), part])])


async def _one(
    client: dv.AsyncClient, pool: ImagePool, image: dv.Image, mode: str
) -> tuple[float, int, str]:
    detail = {"as is": None, "resized, low": "low", "resized, high": "high"}[mode]
    started = time.perf_counter()
    request = _request(image, detail)
    prepared = await prepare_images(request, resize=mode != "as is", pool=pool)
    answer = await client.send(prepared)
    took = time.perf_counter() - started
    received = int((answer.choices[0].message.content or "0").split()[-1])
    (sent,) = [
        part.image_url.url
        for part in prepared.messages[0].content  # type: ignore[union-attr]
        if isinstance(part, dv.ImagePart)
    ]
    assert isinstance(sent, dv.Image)
    return took, received, f"{sent.width}x{sent.height} {sent.format}"


async def _run(port: int, rounds: int, photos: list[bytes], huge: bytes) -> None:
    modes = ["as is", "resized, low", "resized, high"]
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    sizes: dict[str, list[int]] = {mode: [] for mode in modes}
    shapes: dict[str, str] = {}
    pool = ImagePool(max_workers=2)
    base = f"http://127.0.0.1:{port}"
    async with dv.AsyncClient("bench-key", base_url=base) as client:
        await _one(client, pool, dv.Image.from_bytes(photos[0]), "resized, low")  # warm-up
        for _ in range(rounds):
            for data in photos:
                image = dv.Image.from_bytes(data)
                for mode in modes:
                    took, received, shape = await _one(client, pool, image, mode)
                    times[mode].append(took)
                    sizes[mode].append(received)
                    shapes[mode] = shape
        print("| request | image sent | bytes on the wire | wall time | vs as is |")
        print("|---|---|---:|---:|---:|")
        plain = statistics.median(times["as is"])
        for mode in modes:
            median = statistics.median(times[mode])
            mb = statistics.median(sizes[mode]) / 1e6
            print(
                f"| 12 MP photo, {mode} | {shapes[mode]} | {mb:.2f} MB | {median:.2f} s "
                f"| {plain / median:.1f}x faster |"
                if mode != "as is"
                else f"| 12 MP photo, {mode} | {shapes[mode]} | {mb:.2f} MB | {median:.2f} s | 1x |"
            )
        image = dv.Image.from_bytes(huge, check=False)
        try:
            await prepare_images(_request(image, None), resize=False, pool=pool)
            refused = "sent"
        except dv.ImageError as exc:
            refused = type(exc).__name__
        print(f"| 48 MP photo, as is | refused before sending ({refused}) | 0 | - | - |")
        took, received, shape = await _one(client, pool, image, "resized, low")
        print(
            f"| 48 MP photo, resized, low | {shape} | {received / 1e6:.2f} MB | {took:.2f} s | - |"
        )
    await pool.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mbit", type=float, default=20.0, help="uplink in Mbit/s (20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the photos (3)")
    parser.add_argument("--photos", type=int, default=2, help="distinct 12 MP photos (2)")
    parser.add_argument("--smoke", action="store_true", help="one round, one photo")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.mbit))
        return 0
    rounds, count = (1, 1) if args.smoke else (args.rounds, args.photos)
    photos = [_photo(4000, 3000, seed) for seed in range(count)]
    huge = _photo(8000, 6000, 0)
    mb = ", ".join(f"{len(p) / 1e6:.1f}" for p in photos)
    print(f"uplink {args.mbit:g} Mbit/s; {count} photo(s) of 4000x3000 ({mb} MB as JPEG); ")
    print(f"48 MP photo {len(huge) / 1e6:.1f} MB; {rounds} round(s); medians per request\n")
    cmd = [sys.executable, __file__, "--serve", "--mbit", str(args.mbit)]
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(proc.stdout.readline().split()[1])
        try:
            asyncio.run(_run(port, rounds, photos, huge))
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
