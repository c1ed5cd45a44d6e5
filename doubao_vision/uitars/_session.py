"""UITarsSession: the screenshot -> action loop, as the reference agents run it.

The conversation is the prompt as the first user message (as Ark's GUI guide
sends it), then one user message per screenshot and the model's answer after
each. Only the ``max_images`` most recent screenshots are sent: older screenshot
messages are dropped while every answer stays, which is what UI-TARS-desktop
does (``MAX_IMAGE_LENGTH = 5``) to keep requests within the context window.
Executing the actions is the caller's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import attrs

# The public names, not the request-path modules (those are being reshaped).
from .. import (
    AssistantMessage,
    ImageInput,
    ImagePixelLimit,
    InvalidRequestError,
    Message,
    UserMessage,
    user,
)
from .._facts import HIGH_DETAIL_MAX_PIXELS, MODEL_UI_TARS, model_info
from .._images import to_image
from ._actions import Step
from ._parse import parse_actions
from ._prompts import Language, computer_prompt, mobile_prompt

if TYPE_CHECKING:
    from .._client import AsyncClient

__all__ = ["UITarsSession"]


@attrs.frozen
class _Turn:
    screenshot: UserMessage
    answer: AssistantMessage


class UITarsSession:
    """Drive a GUI with a UI-TARS model, one screenshot at a time.

    ``step = await session.step(screenshot)`` sends the screenshot with the
    conversation so far and returns the model's next :class:`Step` in the
    screenshot's pixels. After a step that holds :class:`Finished` or
    :class:`CallUser`, ``session.done`` is true and ``step()`` raises.

    Requests use ``temperature=0``, send each screenshot with ``detail="high"``
    and ``image_pixel_limit.max_pixels=max_pixels`` (Doubao's high-detail budget
    by default, from ``_facts``), and switch the model's thinking off where the
    model has the switch (the ``Thought:`` line carries the reasoning; this is
    what UI-TARS-desktop sends), unless ``thinking=True``.

    Args:
        client: an open :class:`~doubao_vision.AsyncClient`.
        instruction: the task in the user's words.
        kind: ``"computer"`` or ``"mobile"``: which prompt and action space.
        language: ``"en"`` or ``"zh"``: the prompt's language and the Thought's.
        model: a UI-TARS model id (default ``doubao-1-5-ui-tars-250428``).
        max_images: screenshots kept in the conversation (at least 1).
        max_pixels: the pixel budget per screenshot, in [3136, 4,014,080].
        factor: the model's coordinate grid.
        thinking: turn the model's thinking on (only models with the switch).
        prompt: a whole prompt of your own instead of the built-in one.
        max_tokens: the answer's token limit (the server's default if None).

    Raises:
        InvalidRequestError: a bad option (nothing is sent).
    """

    def __init__(
        self,
        client: AsyncClient,
        instruction: str,
        *,
        kind: Literal["computer", "mobile"] = "computer",
        language: Language = "en",
        model: str = MODEL_UI_TARS,
        max_images: int = 5,
        max_pixels: int = HIGH_DETAIL_MAX_PIXELS,
        factor: int = 1000,
        thinking: bool = False,
        prompt: str | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if kind not in ("computer", "mobile"):
            raise InvalidRequestError(f"kind must be 'computer' or 'mobile', got {kind!r}")
        if max_images < 1:
            raise InvalidRequestError(f"max_images must be at least 1, got {max_images}")
        if factor < 1:
            raise InvalidRequestError(f"factor must be positive, got {factor}")
        switch = model_info(model).thinking_switch
        if thinking and not switch:
            raise InvalidRequestError(f"{model} has no thinking switch")
        if prompt is None:
            make = computer_prompt if kind == "computer" else mobile_prompt
            try:
                prompt = make(instruction, language=language)
            except ValueError as exc:
                raise InvalidRequestError(str(exc)) from None
        self.model = model
        self.kind = kind
        self.max_images = max_images
        self.factor = factor
        self.prompt = prompt
        self._client = client
        self._limit = ImagePixelLimit(max_pixels=max_pixels)
        self._params: dict[str, Any] = {"temperature": 0}
        if switch:
            # Without the field the model thinks by default (Ark: enabled is the default).
            self._params["thinking"] = "enabled" if thinking else "disabled"
        if max_tokens is not None:
            self._params["max_tokens"] = max_tokens
        self._turns: list[_Turn] = []
        self._steps: list[Step] = []
        self._busy = False

    def __repr__(self) -> str:
        return f"<UITarsSession {self.kind} model={self.model} steps={len(self._steps)}>"

    @property
    def done(self) -> bool:
        """The last step said Finished or CallUser."""
        return bool(self._steps) and self._steps[-1].done

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step so far, oldest first."""
        return tuple(self._steps)

    def messages(self, screenshot: UserMessage | None = None) -> list[Message]:
        """The conversation the next request sends, ending with ``screenshot`` if given.

        The prompt, then each past turn's answer, each preceded by its screenshot
        while that screenshot is among the ``max_images`` most recent.
        """
        kept = self.max_images - (screenshot is not None)
        first_kept = len(self._turns) - kept
        out: list[Message] = [UserMessage(self.prompt)]
        for i, turn in enumerate(self._turns):
            if i >= first_kept:
                out.append(turn.screenshot)
            out.append(turn.answer)
        if screenshot is not None:
            out.append(screenshot)
        return out

    async def step(
        self, screenshot: ImageInput, *, image_size: tuple[int, int] | None = None
    ) -> Step:
        """Send ``screenshot`` and return the model's next step, in its pixels.

        Args:
            screenshot: the screen now: an Image, bytes, a path or a URL.
            image_size: ``(width, height)``; needed only for a remote URL, whose
                size is unknown here.

        Raises:
            RuntimeError: the session is done, or another step() is running.
            ActionParseError: the answer is not in the grammar; the turn is not
                kept, so the same screenshot can be sent again.
            ImageError, InvalidRequestError, APIStatusError, APIConnectionError:
                as :meth:`AsyncClient.chat` raises them.
        """
        if self.done:
            raise RuntimeError(
                f"this UITarsSession ended with {self._steps[-1].actions[-1]!r}; "
                "start a new session for a new task"
            )
        if self._busy:
            raise RuntimeError("UITarsSession.step() is already running; await it first")
        image = to_image(screenshot)
        if image_size is None:
            if image.width is None or image.height is None:
                raise InvalidRequestError(f"pass image_size=(width, height) for {image.source}")
            image_size = (image.width, image.height)
        shot = user(image, detail="high", image_pixel_limit=self._limit)
        self._busy = True
        try:
            completion = await self._client.chat(self.model, self.messages(shot), **self._params)
        finally:
            self._busy = False
        text = completion.text
        step = parse_actions(text, image_size=image_size, factor=self.factor)
        self._turns.append(_Turn(shot, AssistantMessage(text)))
        self._steps.append(step)
        return step
