"""map_images: one question about every image of a Ray dataset, with typed per-row results."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import ray
import ray.data

from doubao_vision import DEFAULT_MODEL, RetryPolicy, Timeout

from ._limiter import ClusterLimit, cluster_limit
from ._resume import answered_keys
from ._udf import AskImages

__all__ = ["map_images"]


def map_images(
    ds: ray.data.Dataset,
    *,
    prompt: str,
    image_column: str = "image",
    model: str = DEFAULT_MODEL,
    concurrency: int | tuple[int, int] = 4,
    max_in_flight: int = 16,
    num_cpus: float = 0.25,
    batch_size: int = 64,
    rpm: float | None = None,
    tpm: float | None = None,
    limit: ClusterLimit | None = None,
    response_format: type[Any] | Mapping[str, Any] | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    detail: Literal["low", "high", "auto"] | None = None,
    system: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: Timeout | float | None = None,
    resume_from: str | os.PathLike[str] | None = None,
    **params: Any,
) -> ray.data.Dataset:
    """Ask ``prompt`` about the image in every row; returns the rows with their answers.

    Lazy, as Ray datasets are: nothing is sent until the result is consumed
    (``write_parquet``, ``take``, ``materialize``...). Every input column is
    kept; these are added: ``answer``, ``finish_reason``,
    ``usage_prompt_tokens``, ``usage_completion_tokens``, ``request_id``,
    ``error_type``, ``error_message`` (both None when the row was answered) and
    ``resume_key``.

    A row that fails (a broken image, a refused request, retries used up) is a
    row with its error. An error no row can get past (401, 403, 404, a used-up
    quota, a missing key) stops the job; Ray raises it wrapped, and the typed
    error is in the exception chain (``__cause__``).

    Args:
        ds: the input; ``image_column`` holds bytes (``read_binary_files``),
            decoded arrays (``read_images``; sent as PNG, needs Pillow), paths
            (readable where the actors run) or ``http(s)``/data URLs.
        prompt, model: the question and the model id.
        concurrency: actors (an int, or ``(min, max)`` to autoscale).
        max_in_flight: calls in flight per actor.
        num_cpus: CPUs reserved per actor; the work is mostly waiting, so a fraction.
        batch_size: rows per batch handed to an actor.
        rpm, tpm: one client-side limit for the whole cluster (see :func:`cluster_limit`).
        limit: an existing budget to share instead (then ``rpm``/``tpm`` are not used).
        response_format: an attrs class or dataclass: each answer is read into
            it (with the schema sent as the model takes it) and its JSON goes in
            the ``parsed`` column; or a JSON-mode/JSON-schema mapping, sent as is.
        base_url, api_key: as for :class:`AsyncClient` (else the environment
            of each actor).
        detail, system, retry, timeout: as for :class:`AsyncClient` and ``ask``.
        resume_from: where earlier results of this job were written (parquet);
            rows answered there are dropped here, so a rerun asks only the rest.
        params: more request fields (``temperature``, ``max_tokens``, ...).

    Raises:
        InvalidRequestError: parameters no request could carry (before any work).
        ValueError: ``resume_from`` holds files that are not our results.
    """
    if response_format is not None:
        params["response_format"] = response_format
    if limit is None and (rpm is not None or tpm is not None):
        limit = cluster_limit(rpm=rpm, tpm=tpm)
    skip: Any = None
    if resume_from is not None:
        done = answered_keys(resume_from)
        skip = ray.put(done) if done else None  # put once, not copied into every actor spec
    kwargs: dict[str, Any] = {
        "prompt": prompt,
        "model": model,
        "image_column": image_column,
        "api_key": api_key,
        "base_url": base_url,
        "max_in_flight": max_in_flight,
        "limit": limit,
        "detail": detail,
        "system": system,
        "retry": retry,
        "timeout": timeout,
        "skip": skip,
        **params,
    }
    AskImages(**kwargs)  # check the parameters here, on the driver, not in every actor
    if isinstance(concurrency, tuple):
        low, high = concurrency
        compute = ray.data.ActorPoolStrategy(min_size=low, max_size=high)
    else:
        compute = ray.data.ActorPoolStrategy(size=concurrency)
    return ds.map_batches(
        AskImages,
        fn_constructor_kwargs=kwargs,
        compute=compute,
        num_cpus=num_cpus,
        batch_size=batch_size,
        batch_format="pyarrow",
    )
