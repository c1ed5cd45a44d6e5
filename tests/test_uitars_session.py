"""UITarsSession against the emulator on 127.0.0.1: the loop, the request it sends, its end."""

from __future__ import annotations

import re
from typing import Any

import pytest

from doubao_vision import (
    MODEL_UI_TARS,
    MODEL_VISION_PRO,
    ActionParseError,
    AsyncClient,
    InvalidRequestError,
)
from doubao_vision._facts import HIGH_DETAIL_MAX_PIXELS
from doubao_vision._samples import make_png
from doubao_vision.emulator import Emulator
from doubao_vision.emulator._request import ChatRequest, ImagePart
from doubao_vision.emulator._uitars import FINISH_AFTER, ui_tars_answer
from doubao_vision.uitars import (
    CallUser,
    Click,
    DoubleClick,
    Drag,
    Finished,
    RightClick,
    Scroll,
    UITarsSession,
    computer_prompt,
    mobile_prompt,
    parse_actions,
    to_pixel,
)

MAX_IMAGES = 3
SHOT_SIZE = (320, 200)


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part
        for message in body["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]


def chat_bodies(emulator: Emulator) -> list[dict[str, Any]]:
    return [r.body for r in emulator.requests if r.path.endswith("/chat/completions")]


async def test_ten_step_loop_ends_in_finished_with_bounded_images(
    emulator: Emulator, client: AsyncClient
) -> None:
    """A 10-step offline run ends in Finished; no request carries more than N screenshots."""
    session = UITarsSession(client, "Book a flight to Paris", max_images=MAX_IMAGES)
    steps = []
    for i in range(10):
        step = await session.step(make_png(*SHOT_SIZE, seed=i))
        steps.append(step)
        if session.done:
            break
    assert session.done
    assert isinstance(steps[-1].actions[-1], Finished)
    assert len(steps) == FINISH_AFTER + 1 > MAX_IMAGES  # so old screenshots were dropped
    assert session.steps == tuple(steps)

    bodies = chat_bodies(emulator)
    assert len(bodies) == len(steps)
    for n, body in enumerate(bodies):
        images = image_parts(body)
        assert len(images) == min(n + 1, MAX_IMAGES)
        roles = [m["role"] for m in body["messages"]]
        assert roles.count("assistant") == n  # every answer stays, screenshots go
        assert body["messages"][0] == {
            "role": "user",
            "content": computer_prompt("Book a flight to Paris"),
        }
        assert body["temperature"] == 0
        assert body["thinking"] == {"type": "disabled"}
        for part in images:
            assert part["image_url"]["detail"] == "high"
            assert part["image_url"]["image_pixel_limit"] == {"max_pixels": HIGH_DETAIL_MAX_PIXELS}
    # The newest screenshot is always the last message.
    assert bodies[-1]["messages"][-1]["role"] == "user"
    assert image_parts({"messages": bodies[-1]["messages"][-1:]})


async def test_emulator_points_come_back_in_screenshot_pixels(
    emulator: Emulator, client: AsyncClient
) -> None:
    """The grid point the emulator names in its Thought is the pixel the action carries."""
    session = UITarsSession(client, "Click around", max_images=2)
    checked = 0
    for i in range(FINISH_AFTER):
        step = await session.step(make_png(*SHOT_SIZE, seed=100 + i))
        assert step.thought is not None
        assert f"{SHOT_SIZE[0]}x{SHOT_SIZE[1]}" in step.thought
        found = re.search(r"near \((\d+), (\d+)\)", step.thought)
        assert found is not None
        gx, gy = (int(v) for v in found.groups())
        x, y = to_pixel_pair(gx, gy)
        action = step.actions[0]
        if isinstance(action, (Click, DoubleClick, RightClick, Scroll)):
            assert (action.x, action.y) == (x, y)
            checked += 1
        elif isinstance(action, Drag):
            assert (action.start_x, action.start_y) == (x, y)
            checked += 1
    assert checked > 0


def to_pixel_pair(gx: int, gy: int) -> tuple[int, int]:
    from fractions import Fraction

    return (to_pixel(Fraction(gx), SHOT_SIZE[0], 1000), to_pixel(Fraction(gy), SHOT_SIZE[1], 1000))


async def test_step_after_finished_raises(client: AsyncClient) -> None:
    """Once a step says Finished, another step() raises a clear RuntimeError."""
    session = UITarsSession(client, "Anything", max_images=1)
    for i in range(FINISH_AFTER + 1):
        await session.step(make_png(*SHOT_SIZE, seed=i))
    assert session.done
    with pytest.raises(RuntimeError, match="ended with Finished"):
        await session.step(make_png(*SHOT_SIZE, seed=99))


async def test_mobile_chinese_prompt_is_the_first_user_message(
    emulator: Emulator, client: AsyncClient
) -> None:
    """kind="mobile", language="zh" sends the Chinese mobile prompt as the first user turn."""
    session = UITarsSession(client, "打开设置", kind="mobile", language="zh")
    await session.step(make_png(*SHOT_SIZE, seed=5))
    (body,) = chat_bodies(emulator)
    assert body["messages"][0]["content"] == mobile_prompt("打开设置", language="zh")
    assert body["model"] == MODEL_UI_TARS


async def test_answer_outside_the_grammar_raises_and_keeps_no_turn(
    emulator: Emulator, client: AsyncClient
) -> None:
    """A model that does not answer in the grammar gives ActionParseError; history is unchanged."""
    session = UITarsSession(client, "Anything", model=MODEL_VISION_PRO)
    with pytest.raises(ActionParseError):
        await session.step(make_png(*SHOT_SIZE, seed=1))
    assert session.steps == ()
    assert len(session.messages()) == 1
    (body,) = chat_bodies(emulator)
    assert "thinking" not in body  # vision-pro has no thinking switch


async def test_thinking_enabled_where_the_model_has_the_switch(
    emulator: Emulator, client: AsyncClient
) -> None:
    """thinking=True sends enabled for UI-TARS and is refused for a model without the switch."""
    session = UITarsSession(client, "Anything", thinking=True, max_tokens=300)
    await session.step(make_png(*SHOT_SIZE, seed=2))
    (body,) = chat_bodies(emulator)
    assert body["thinking"] == {"type": "enabled"}
    assert body["max_tokens"] == 300
    with pytest.raises(InvalidRequestError, match="thinking"):
        UITarsSession(client, "x", model=MODEL_VISION_PRO, thinking=True)


@pytest.mark.parametrize(
    "options",
    [{"max_images": 0}, {"kind": "tablet"}, {"factor": 0}, {"language": "fr"}],
)
async def test_bad_options_are_refused(client: AsyncClient, options: dict[str, Any]) -> None:
    """Impossible session options raise InvalidRequestError before anything is sent."""
    with pytest.raises(InvalidRequestError):
        UITarsSession(client, "x", **options)


async def test_remote_screenshot_needs_its_size(client: AsyncClient) -> None:
    """A URL screenshot has no known size, so step() asks for image_size."""
    session = UITarsSession(client, "x")
    with pytest.raises(InvalidRequestError, match="image_size"):
        await session.step("https://example.invalid/shot.png")


def test_messages_drop_old_screenshots_but_keep_answers() -> None:
    """messages() keeps the prompt, every answer, and only the newest max_images screenshots."""
    from doubao_vision import AssistantMessage, UserMessage, user
    from doubao_vision.uitars._session import _Turn

    session = UITarsSession(None, "x", max_images=2)  # type: ignore[arg-type]
    shots = [user(make_png(20, 20, seed=i)) for i in range(4)]
    session._turns = [_Turn(shot, AssistantMessage(f"a{i}")) for i, shot in enumerate(shots[:3])]
    sent = session.messages(shots[3])
    assert isinstance(sent[0], UserMessage) and sent[0].content == session.prompt
    assert sent[1:] == [
        AssistantMessage("a0"),
        AssistantMessage("a1"),
        shots[2],
        AssistantMessage("a2"),
        shots[3],
    ]


# -- the emulator's answers, directly ---------------------------------------------------


def emulator_chat(turns: int, images: tuple[ImagePart, ...]) -> ChatRequest:
    return ChatRequest(
        model=MODEL_UI_TARS,
        stream=False,
        include_usage=False,
        prompt="",
        images=images,
        videos=(),
        text_chars=1000,
        image_tokens=0,
        json_mode=False,
        thinking=False,
        tool_name=None,
        max_tokens=None,
        max_completion_tokens=None,
        turns=turns,
        image_count_total=len(images),
    )


@pytest.mark.parametrize("turns", range(FINISH_AFTER + 2))
@pytest.mark.parametrize("seed", ["00" * 32, "ff" * 32, "0123456789abcdef" * 4])
def test_emulator_answers_are_in_the_grammar(turns: int, seed: str) -> None:
    """Every emulator answer parses, is deterministic, and is Finished after FINISH_AFTER turns."""
    chat = emulator_chat(
        turns, (ImagePart("high", format="png", width=64, height=48, sha256=seed),)
    )
    text = ui_tars_answer(chat)
    assert ui_tars_answer(chat) == text
    step = parse_actions(text, image_size=(64, 48))
    assert len(step.actions) == 1
    assert isinstance(step.actions[0], Finished) == (turns >= FINISH_AFTER)


def test_emulator_without_a_screenshot_calls_the_user() -> None:
    """No screenshot in the last user message: the emulator answers call_user()."""
    step = parse_actions(ui_tars_answer(emulator_chat(0, ())), image_size=(10, 10))
    assert step.actions == (CallUser(),)
