"""Images made ready for sending: resized to their budget off the event loop, or checked.

The client calls :func:`prepare_images` on every request before it estimates
tokens and sends. With resizing on, each inline image larger than the budget
its ``detail`` / ``image_pixel_limit`` implies (``_facts.pixel_budget``) is
resized (``_resize``) in an :class:`ImagePool`, a bounded thread pool, so at
most ``max_workers`` images are decoded at once however many calls are in
flight. With it off, images built unchecked (``check=False``) are refused here
if they are over 10 MB or 36 MP, so nothing the API would refuse is uploaded.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import attrs

from ._facts import MAX_IMAGE_BYTES, pixel_budget
from ._images import Image
from ._messages import ImagePart, ImageURL, UserMessage
from ._request import ChatRequest
from ._resize import pillow, resize_image

__all__ = ["ImagePool", "check_images", "prepare_images"]

_T = TypeVar("_T")


class ImagePool:
    """A bounded pool of worker threads that decode and resize images.

    At most ``max_workers`` images are decoded at once however many calls are
    in flight (each waiting call holds only its own, already loaded, bytes).
    Pillow releases the GIL while it decodes, resamples and encodes, so the
    event loop keeps running. Threads start on first use; :meth:`close` (or
    :meth:`aclose`) stops them. Owned by the client.
    """

    def __init__(self, max_workers: int = 2) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` in a worker thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.max_workers,
                thread_name_prefix="doubao-vision-images",
                initializer=_lower_priority,
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the threads (waiting for running work, dropping queued work); idempotent."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.to_thread(self.close)


def _lower_priority() -> None:
    """Resizing is background work: on a busy machine the event loop's thread goes first.

    Linux gives each thread its own nice value; elsewhere this may fail, harmlessly.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + 5)
    except (AttributeError, OSError):
        pass


def _budget(image_url: ImageURL) -> int:
    limit = image_url.image_pixel_limit
    if limit is None:
        return pixel_budget(image_url.detail)[1]
    return pixel_budget(image_url.detail, limit.min_pixels, limit.max_pixels)[1]


def _needs_resizing(image: Image, budget: int) -> bool:
    if image.width is None or image.height is None:
        return True  # HEIC/HEIF: only Pillow knows the size
    return image.width * image.height > budget or image.nbytes > MAX_IMAGE_BYTES


def check_images(request: ChatRequest) -> None:
    """Check every inline image built with ``check=False`` against the limits (10 MB,
    36 MP): what :func:`prepare_images` does without resizing, for callers that
    cannot await (``client.stream`` checks here, when the stream is made).

    Raises:
        ImageTooLargeError, ImageDimensionsError: an image over the limits.
    """
    for message in request.messages:
        if not isinstance(message, UserMessage) or isinstance(message.content, str):
            continue
        for part in message.content:
            if isinstance(part, ImagePart) and isinstance(part.image_url.url, Image):
                image = part.image_url.url
                if image.url is None:
                    image.check()


async def prepare_images(
    request: ChatRequest, *, resize: bool, pool: ImagePool | None = None
) -> ChatRequest:
    """The request as it should be sent: images resized to their budget, or checked.

    With ``resize``, every inline image larger than the budget its ``detail`` /
    ``image_pixel_limit`` implies (or over 10 MB) is replaced by a resized copy,
    made in ``pool`` (else in asyncio's default executor); images within budget
    stay the same objects, sent byte for byte. Without it, images built with
    ``check=False`` are checked now. Call it before estimating tokens: the
    returned images carry their new sizes. Returns ``request`` itself when
    nothing changes.

    Raises:
        ImageTooLargeError, ImageDimensionsError: without ``resize``, an image
            over 10 MB or 36 MP.
        ImportError: ``resize`` is on, an image needs it, and Pillow is missing.
        ImageError: an image Pillow cannot decode.
    """
    jobs: list[tuple[int, int, ImagePart, int]] = []
    for m, message in enumerate(request.messages):
        if not isinstance(message, UserMessage) or isinstance(message.content, str):
            continue
        for p, part in enumerate(message.content):
            if not isinstance(part, ImagePart) or not isinstance(part.image_url.url, Image):
                continue
            image = part.image_url.url
            if image.url is not None:
                continue
            if not resize:
                image.check()
                continue
            budget = _budget(part.image_url)
            if _needs_resizing(image, budget):
                jobs.append((m, p, part, budget))
    if not jobs:
        return request
    # A missing extra fails here, once, with the hint; the first call imports Pillow's
    # plugins, which holds the GIL for a while, so not on the event loop's thread.
    await _run(pool, pillow)
    resized = await asyncio.gather(
        *(_run(pool, resize_image, part.image_url.url, budget) for _, _, part, budget in jobs)
    )
    messages = list(request.messages)
    for (m, p, part, _), image in zip(jobs, resized, strict=True):
        message = messages[m]
        assert isinstance(message, UserMessage) and not isinstance(message.content, str)
        content = list(message.content)
        content[p] = attrs.evolve(part, image_url=attrs.evolve(part.image_url, url=image))
        messages[m] = attrs.evolve(message, content=content)
    return attrs.evolve(request, messages=messages)


async def _run(pool: ImagePool | None, fn: Callable[..., _T], *args: Any) -> _T:
    if pool is not None:
        return await pool.run(fn, *args)
    return await asyncio.to_thread(fn, *args)
