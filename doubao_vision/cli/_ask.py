"""``doubao-vision ask`` (one question, printed) and ``doubao-vision models``."""

from __future__ import annotations

import argparse
import sys

import orjson

from doubao_vision import ChatCompletion, ChatRequest, DoubaoVisionError, to_json_data

from ._common import (
    build_messages,
    chat_params,
    check_request,
    client_options,
    connect,
    image_from_arg,
    report,
    schema_class,
)

__all__ = ["run_ask", "run_models"]


def _warn_if_cut(completion: ChatCompletion) -> None:
    if completion.finish_reason == "length":
        print(
            'doubao-vision: the answer was cut at the token limit (finish_reason "length"); '
            "raise --max-tokens for the whole of it",
            file=sys.stderr,
        )


async def run_ask(args: argparse.Namespace) -> int:
    """Ask ``args.prompt`` about ``args.images``; print the answer (streamed with ``--stream``)."""
    check_request(args, args.prompt)
    try:
        # Every positional is an image (a URL or a file), never text: read here,
        # before connecting, so a bad one costs nothing.
        images = [image_from_arg(arg) for arg in args.images]
        messages = build_messages(
            args.prompt, images, system_prompt=args.system, detail=args.detail
        )
        request = ChatRequest(model=args.model, messages=messages, **chat_params(args))
        cls = schema_class(args)
        async with connect(args, **client_options(args)) as client:
            if cls is not None:
                parsed = await client.parse(
                    args.model, request.messages, response_format=cls, **chat_params(args)
                )
                print(orjson.dumps(to_json_data(parsed.parsed)).decode())
                return 0
            if not args.stream:
                completion = await client.send(request)
                print(completion.text)
                _warn_if_cut(completion)
                return 0
            async with client.stream_request(request) as stream:
                async for piece in stream.text_deltas():
                    sys.stdout.write(piece)
                    sys.stdout.flush()
            sys.stdout.write("\n")
            _warn_if_cut(stream.completion)
    except DoubaoVisionError as error:
        return report(error)
    return 0


async def run_models(args: argparse.Namespace) -> int:
    """Print the model ids the gateway lists, one per line."""
    try:
        async with connect(args, **client_options(args)) as client:
            for model in await client.models():
                print(model)
    except DoubaoVisionError as error:
        return report(error)
    return 0
