"""Progress for a person: of a long job on one terminal line (done / total, rate, time left), and of a download.

Drawn only when the stream (stderr by default) is a terminal, so piped output, `--json` records and
logs stay clean. The line is rewritten in place with `\\r` at most ten times a second and cleared when
the job ends; lines printed through `Progress.print` appear above it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

REDRAW_INTERVAL_S = 0.1


class Progress:
    """`with Progress(len(files), "predict", "images") as progress: for f in progress.track(files): ...`."""

    def __init__(self, total: int | None, label: str, unit: str = "files", *, stream: TextIO | None = None):
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.done = 0
        self.detail = ""
        self.started = time.monotonic()
        self._drawn_at = float("-inf")
        self._width = 0  # of the line on screen, 0 when none is

    def __enter__(self) -> Progress:
        return self.start()

    def start(self) -> Progress:
        """Draws the line at once, before the first item (often the slowest) is done."""
        if self.enabled:
            self._draw(time.monotonic())
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def advance(self, count: int = 1, detail: str | None = None) -> None:
        """Counts `count` more items done; `detail` (e.g. "loss 0.41") is shown after the figures."""
        self.done += count
        if detail is not None:
            self.detail = detail
        now = time.monotonic()
        if self.enabled and (now - self._drawn_at >= REDRAW_INTERVAL_S or self.done == self.total):
            self._draw(now)

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """Yields the items, counting each as done when the loop body has finished with it."""
        for item in items:
            yield item
            self.advance()

    def print(self, *values, file: TextIO | None = None) -> None:
        """print() that keeps the progress line intact: clears it, prints, draws it again below."""
        shown = self._width > 0
        self._clear()
        print(*values, file=file if file is not None else sys.stdout, flush=True)
        if shown:
            self._draw(time.monotonic())

    def close(self) -> None:
        """Clears the line; the job's own output follows on a clean line."""
        self._clear()

    def line(self, now: float | None = None) -> str:
        """The text of the progress line, e.g. "predict: 120/1000 images, 35.2/s, 0:25 left"."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [
            f"{self.label}: {self.done}/{self.total} {self.unit}"
            if self.total
            else f"{self.label}: {self.done} {self.unit}"
        ]
        if self.done and rate > 0:
            parts.append(f"{rate:.1f}/s" if rate >= 1 else f"{1 / rate:.1f} s each")
            if self.total:
                parts.append(f"{format_duration(max(0, self.total - self.done) / rate)} left")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)[: _columns(self.stream) - 1]  # a wrapped line could not be rewritten
        padding = " " * max(0, self._width - len(text))
        self.stream.write(f"\r{text}{padding}")
        self.stream.flush()
        self._width = len(text)
        self._drawn_at = now

    def _clear(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


class DownloadProgress:
    """How far a download has got: the one reporter of every download, called with (bytes so far, total or None).

    Without `report` it rewrites one line on the stream (stderr) when that is a terminal, "downloading the
    starter model:  42% of 4.5 MB", ending the line when done; nothing for a download of unknown size. With
    `report` (the window's status line), each whole percent is one line of text handed to it, "Downloading the
    starter model: 42%" (a download of unknown size: once, in MB).
    """

    def __init__(
        self,
        what: str = "the starter model",
        *,
        report: Callable[[str], None] | None = None,
        stream: TextIO | None = None,
    ):
        self.what = what
        self.report = report
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = report is not None or _is_terminal(self.stream)
        self._percent: int | None = None

    def of(self, what: str) -> DownloadProgress:
        """The same reporter for another download ("the starter detector")."""
        return DownloadProgress(what, report=self.report, stream=self.stream)

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        percent = done * 100 // total if total else -1
        if self.report is not None:
            if percent != self._percent:
                self._percent = percent
                self.report(f"Downloading {self.what}: {f'{percent}%' if total else f'{done / 1e6:.1f} MB'}")
            return
        if total:
            self.stream.write(f"\rdownloading {self.what}: {percent:3d}% of {total / 1e6:.1f} MB")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()


def format_duration(seconds: float) -> str:
    """0:07, 12:30, 2:05:00."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _columns(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
