"""``doubao-vision batch``: questions about many images, resumable after a crash.

Items come from arguments (files, directories, globs; one ``-p`` prompt) and
from ``--input`` (a prompt per row). Each finished item is one line of the
results file (see ``_results``), keyed on the resolved path and what was asked
(see ``_inputs``): a rerun asks only what has no answer under the same key.
Images are read off the event loop, one at a time as slots free up.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from doubao_vision import (
    ChatCompletion,
    ChatRequest,
    DoubaoVisionError,
    Image,
    ImageNotFoundError,
    to_json_data,
)

from ._common import (
    EXIT_FAILED,
    UsageError,
    answer_params,
    build_messages,
    chat_params,
    check_request,
    client_options,
    connect,
    schema_class,
)
from ._inputs import Item, Key, make_items
from ._progress import make_progress
from ._results import Previous, ResultsFile, compact, error_row, load_previous, ok_row

__all__ = ["run_batch"]


class _Run:
    """Counts and writes the outcomes of one run."""

    def __init__(self, args: argparse.Namespace, params: Mapping[str, Any], total: int) -> None:
        self._model = args.model
        self._params = params
        self._fail_fast = args.fail_fast
        self.out = ResultsFile(args.output)
        self.ok = 0
        self.cut = 0  # answers that ended at the token limit
        self.failed: Counter[str] = Counter()
        self.written: list[Key] = []
        self.stop = False
        self.progress = make_progress(args.progress, total, sys.stderr)

    def record(
        self, item: Item, outcome: ChatCompletion | DoubaoVisionError, parsed: Any = None
    ) -> None:
        if isinstance(outcome, DoubaoVisionError):
            self.out.write(error_row(item, self._model, self._params, outcome))
            self.failed[type(outcome).__name__] += 1
            self.stop = self._fail_fast
        else:
            row = ok_row(item, self._model, self._params, outcome)
            if parsed is not None:
                row["parsed"] = to_json_data(parsed)
            self.out.write(row)
            self.ok += 1
            self.cut += outcome.finish_reason == "length"
        self.written.append(item.key)
        self.progress.advance(not isinstance(outcome, DoubaoVisionError))

    def close(self) -> None:
        self.progress.close()
        self.out.close()


def _read(item: Item) -> Image:
    if glob.has_magic(item.image) and not os.path.exists(item.image):
        raise ImageNotFoundError(f"no file matches {item.image!r}", source=item.image)
    return Image.from_path(item.image)


def _summary(
    args: argparse.Namespace,
    run: _Run,
    items: list[Item],
    todo: list[Item],
    previous: Previous,
    usage: Any,
    wall: float,
) -> None:
    failed = sum(run.failed.values())
    by_class = ", ".join(f"{name} {n}" for name, n in sorted(run.failed.items()))
    skipped = len(items) - len(todo)
    unasked = len(todo) - len(run.written)
    print(
        f"doubao-vision batch: {run.ok} ok, {failed} failed"
        + (f" ({by_class})" if by_class else "")
        + f", {skipped} skipped (already answered)"
        + (f", {unasked} not asked (--fail-fast stopped the run)" if unasked else "")
    )
    print(
        f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion "
        f"= {usage.total_tokens}; wall time {wall:.2f} s; results in {args.output}"
        + ("; cut off a torn last line left by an interrupted run" if previous.torn else "")
    )
    if previous.unkeyed:
        print(
            f"{previous.unkeyed} row(s) in {args.output} say no prompt and model (written by "
            "an older doubao-vision): not reused, as their question is unknown"
        )
    if run.cut:
        print(
            f'{run.cut} answer(s) cut short at the token limit (finish_reason "length"); '
            "raise --max-tokens to get them whole"
        )
    superseded = previous.superseded + sum(previous.rows[key] for key in run.written)
    if args.compact:
        before, after = compact(args.output)
        print(f"compacted {args.output}: {before} rows -> {after}")
    elif superseded:
        print(
            f"{superseded} older row(s) in {args.output} superseded by a later one for the "
            "same image and question; --compact drops them"
        )


async def run_batch(args: argparse.Namespace) -> int:
    """Ask about every item not yet answered; returns the exit code."""
    if not args.paths and args.input is None:
        if args.compact:
            before, after = compact(args.output)
            print(f"compacted {args.output}: {before} rows -> {after}")
            return 0
        raise UsageError("batch needs images: PATH_OR_GLOB ... or --input FILE")
    check_request(args)
    schema_class(args)  # a bad --schema is a usage error before anything is read
    params = answer_params(args)
    items = make_items(args.paths, args.input, args.prompt, args.model, params)
    previous = load_previous(args.output)
    todo = [item for item in items if item.key not in previous.answered]
    request_params = chat_params(args)
    run = _Run(args, params, len(todo))
    sent: dict[int, Item] = {}  # batch index -> item, while in flight

    async def requests() -> AsyncIterator[ChatRequest]:
        index = 0  # the batch numbers what it is given: the items that became requests
        for item in todo:
            if run.stop:
                return
            try:
                picture = await asyncio.to_thread(_read, item)
                messages = build_messages(
                    item.prompt, [picture], system_prompt=args.system, detail=args.detail
                )
                request = ChatRequest(model=args.model, messages=messages, **request_params)
            except DoubaoVisionError as error:
                run.record(item, error)  # bad paths and images fail here, alone
                continue
            sent[index] = item
            index += 1
            yield request

    began = time.perf_counter()
    interrupted = False
    try:
        options = {"rpm": args.rpm, "tpm": args.tpm, "max_connections": args.concurrency}
        async with connect(args, **options, **client_options(args)) as client:
            batch = client.batch(
                requests(), concurrency=args.concurrency, response_format=schema_class(args)
            )
            async with batch:
                async for result in batch:
                    item = sent.pop(result.index)
                    outcome = result.error if result.error is not None else result.unwrap()
                    run.record(item, outcome, result.parsed)
                    if run.stop:
                        break
            usage = client.usage
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        raise
    finally:
        run.close()
        if interrupted:
            failures = sum(run.failed.values())
            print(
                f"doubao-vision batch: {run.ok} answers saved to {args.output} this run"
                + (f" ({failures} failures recorded)" if failures else "")
                + "; run the same command again to resume (answered images are skipped)",
                file=sys.stderr,
            )
    _summary(args, run, items, todo, previous, usage, time.perf_counter() - began)
    return EXIT_FAILED if run.failed else 0
