"""Never run: mypy --strict checks that the public API types the way users write it."""

from __future__ import annotations

import pathlib

import doubao_vision as dv


async def typical_use() -> None:
    async with dv.AsyncClient(
        "sk-x", base_url=dv.ARK_BASE_URL, timeout=dv.Timeout(read=30)
    ) as client:
        completion: dv.ChatCompletion = await client.chat(
            dv.MODEL_VISION_PRO,
            [
                dv.system("Be brief"),
                dv.user("What is this?", pathlib.Path("cat.png"), detail="high"),
            ],
            temperature=0.2,
            max_tokens=100,
            thinking={"type": "disabled"},
        )
        text: str = completion.text
        usage: dv.Usage | None = completion.usage
        answer: str = await client.ask("Describe", b"\x89PNG...", detail="low")
        async with client.stream(
            dv.MODEL_VISION_LITE, [{"role": "user", "content": "hi"}]
        ) as stream:
            async for chunk in stream:
                _: dv.ChatCompletionChunk = chunk
            final: dv.ChatCompletion = await stream.final_completion()
        typed: dv.AsyncStream[dv.ChatCompletionChunk] = client.stream(
            dv.MODEL_UI_TARS, [dv.user("x")]
        )
        async for piece in typed.text_deltas():
            _piece: str = piece
        del text, usage, answer, final


def errors_are_a_tree(error: dv.DoubaoVisionError) -> int | None:
    if isinstance(error, dv.APIStatusError):
        return error.status_code
    if isinstance(error, dv.APITimeoutError):
        timeout: TimeoutError = error
        del timeout
    return None
