"""Progress for ``doubao-vision batch``: rich if installed, else one plain line, else nothing.

Progress goes to stderr and only when stderr is a terminal (``auto``): piped
runs stay quiet and print just the closing summary.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, TextIO

__all__ = ["Progress", "make_progress"]


class Progress(Protocol):
    def advance(self, ok: bool) -> None: ...

    def close(self) -> None: ...


class _Counts:
    """Done, failed, rate and ETA, shared by both renderers."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()

    def add(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.rate
        if not rate:
            return "-:--:--"
        seconds = int((self.total - self.done) / rate + 0.5)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Quiet:
    def advance(self, ok: bool) -> None:
        pass

    def close(self) -> None:
        pass


class _Plain:
    """``\\r``-redrawn single line, at most ten times a second."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self._counts = _Counts(total)
        self._stream = stream
        self._drawn = 0.0
        self._width = 0
        self._draw()

    def _draw(self) -> None:
        c = self._counts
        width = 24
        filled = width * c.done // c.total if c.total else width
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {c.done}/{c.total} done, "
            f"{c.failed} failed, {c.rate:.1f}/s, ETA {c.eta()}"
        )
        self._stream.write("\r" + line.ljust(self._width))
        self._stream.flush()
        self._width = len(line)
        self._drawn = time.monotonic()

    def advance(self, ok: bool) -> None:
        self._counts.add(ok)
        if time.monotonic() - self._drawn >= 0.1 or self._counts.done == self._counts.total:
            self._draw()

    def close(self) -> None:
        self._draw()
        self._stream.write("\n")
        self._stream.flush()


class _Rich:
    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
        from rich.progress import Progress as RichProgress

        self._counts = _Counts(total)
        self._progress = RichProgress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("done, [red]{task.fields[failed]} failed[/], {task.fields[rate]}/s,"),
            TextColumn("ETA {task.fields[eta]}"),
            console=Console(file=stream),
        )
        self._task = self._progress.add_task("batch", total=total, **self._fields())
        self._progress.start()

    def _fields(self) -> dict[str, Any]:
        c = self._counts
        return {"failed": c.failed, "rate": f"{c.rate:.1f}", "eta": c.eta()}

    def advance(self, ok: bool) -> None:
        self._counts.add(ok)
        self._progress.update(self._task, advance=1, **self._fields())

    def close(self) -> None:
        self._progress.update(self._task, **self._fields())
        self._progress.stop()


def make_progress(mode: str, total: int, stream: TextIO) -> Progress:
    """``auto`` (rich if importable, else plain; nothing if ``stream`` is not a
    terminal), ``rich``, ``plain`` or ``off``."""
    if mode == "off" or (mode == "auto" and not stream.isatty()):
        return _Quiet()
    if mode in ("auto", "rich"):
        try:
            return _Rich(total, stream)
        except ImportError:  # rich is the optional `cli` extra
            pass
    return _Plain(total, stream)
