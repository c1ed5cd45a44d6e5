"""``doubao-vision demo``: the bundled sample images, asked at once, against an
emulator in this process (no network, no key)."""

from __future__ import annotations

import asyncio
import secrets
import sys
import textwrap
import time

from doubao_vision import DEFAULT_MODEL, ChatCompletion, Image, TextPart, user

from ._common import KEY_ENV

__all__ = ["run_demo"]


async def run_demo() -> int:
    from doubao_vision import AsyncClient
    from doubao_vision._samples import sample_images  # demo data, not API: no public home
    from doubao_vision.emulator import Emulator

    images = sample_images()
    prompt = "What is in this image?"
    key = secrets.token_urlsafe(24)
    async with (
        Emulator(api_key=key) as base_url,
        AsyncClient(key, base_url=base_url) as client,
    ):
        print(f"doubao-vision demo: {len(images)} images at once against the embedded emulator")
        print(f"at {base_url} (no network, no real key; answers describe what arrived)\n")

        async def one(name: str, data: bytes) -> tuple[str, ChatCompletion, float]:
            began = time.perf_counter()
            message = user(TextPart(prompt), Image.from_bytes(data, name=name))
            completion = await client.chat(DEFAULT_MODEL, [message])
            return name, completion, time.perf_counter() - began

        began = time.perf_counter()
        answers = await asyncio.gather(*(one(name, data) for name, data in images.items()))
        wall = time.perf_counter() - began
        for name, completion, seconds in answers:
            usage = completion.usage
            prompt_tokens = usage.prompt_tokens if usage else 0
            completion_tokens = usage.completion_tokens if usage else 0
            tokens = f"{prompt_tokens} prompt + {completion_tokens} completion tokens"
            print(f"== {name}  ({seconds * 1000:.0f} ms, {tokens})")
            print(textwrap.indent(completion.text, "   "))
        print("\nStreamed, token by token:")
        name, data = next(iter(images.items()))
        message = user(TextPart(f"And {name}?"), Image.from_bytes(data, name=name))
        async with client.stream(DEFAULT_MODEL, [message]) as stream:
            async for piece in stream.text_deltas():
                sys.stdout.write(piece)
                sys.stdout.flush()
        totals = client.usage
        print(
            f"\n\n{totals.requests} requests, {len(images)} of them concurrent in {wall:.3f} s; "
            f"tokens: {totals.prompt_tokens} prompt + {totals.completion_tokens} completion "
            f"= {totals.total_tokens}"
        )
    print(f"Next: export {KEY_ENV}=... and run: doubao-vision ask photo.jpg -p 'What is this?'")
    return 0
