"""``python -m doubao_vision.emulator --port 8000``: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ._server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m doubao_vision.emulator",
        description="A local Doubao chat API (OpenAI-compatible) for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one")
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.api_key))
    except KeyboardInterrupt:  # only where signal handlers cannot be installed
        pass
    except OSError as exc:
        print(f"doubao-vision emulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
