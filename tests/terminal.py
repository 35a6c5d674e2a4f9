"""What a person at a terminal sees: birdcam with stdout and/or stderr on a real pseudo-terminal.

`run_in_terminal` runs the CLI in a child process; `terminal_streams` swaps sys.stdout / sys.stderr
in this process (for runs too slow to start twice, like training). A stream not on the terminal is
piped (child) or an in-memory buffer (here); neither is a terminal.
"""

from __future__ import annotations

import contextlib
import io
import os
import pty
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class TerminalRun:
    """What one run wrote."""

    code: int | None = None
    """Exit code (child process runs only)."""
    terminal: str = ""
    """Everything written to the terminal, byte for byte (no newline translation)."""
    stdout: str = ""
    """stdout when it was not on the terminal."""
    stderr: str = ""
    """stderr when it was not on the terminal."""
    _chunks: list[bytes] = field(default_factory=list, repr=False)


def _open_terminal() -> tuple[int, int]:
    """(controller, terminal) file descriptors of a new pty that passes bytes unchanged."""
    controller, terminal = pty.openpty()
    tty.setraw(terminal)
    return controller, terminal


_END = b"\x00end of run\x00"
"""Written to the terminal after the last real output: reading until it arrives gets everything. (Closing the
terminal side instead can make Linux answer EIO before all it holds has been read.)"""


def _drain(controller: int, chunks: list[bytes]) -> threading.Thread:
    """Reads the pty until the end marker arrives (so writers never block on a full pty)."""

    def read() -> None:
        seen = b""
        while not seen.endswith(_END):
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed
                break
            if not data:
                break
            seen += data
        chunks.append(seen.removesuffix(_END))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


def _finish(terminal: int, reader: threading.Thread) -> None:
    """Marks the end on the terminal, waits until the reader has everything, closes the terminal side."""
    os.write(terminal, _END)
    reader.join(timeout=10)
    os.close(terminal)


def run_in_terminal(args: list[str], *, stdout: bool, stderr: bool, timeout: float = 300) -> TerminalRun:
    """`python -m birdcam ARGS` with stdout / stderr on a terminal when True, piped when False."""
    controller, terminal = _open_terminal()
    run = TerminalRun()
    reader = _drain(controller, run._chunks)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "birdcam", *args],
            stdin=subprocess.DEVNULL,
            stdout=terminal if stdout else subprocess.PIPE,
            stderr=terminal if stderr else subprocess.PIPE,
            cwd=REPO,
            env=env,
        )
        out, err = child.communicate(timeout=timeout)
        run.code = child.returncode
    finally:
        _finish(terminal, reader)  # this process kept the terminal open: nothing is lost when the child ends
        os.close(controller)
    run.stdout = (out or b"").decode("utf-8", "replace")
    run.stderr = (err or b"").decode("utf-8", "replace")
    run.terminal = b"".join(run._chunks).decode("utf-8", "replace")
    return run


@contextlib.contextmanager
def terminal_streams(*, stdout: bool, stderr: bool) -> Iterator[TerminalRun]:
    """sys.stdout / sys.stderr on a terminal when True, on a buffer when False; the texts are in the yielded run at
    exit."""
    controller, terminal = _open_terminal()
    run = TerminalRun()
    reader = _drain(controller, run._chunks)
    on_terminal = open(terminal, "w", encoding="utf-8", buffering=1, closefd=False)
    buffers = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    saved = sys.stdout, sys.stderr
    sys.stdout = on_terminal if stdout else buffers["stdout"]
    sys.stderr = on_terminal if stderr else buffers["stderr"]
    try:
        yield run
    finally:
        sys.stdout, sys.stderr = saved
        on_terminal.close()
        _finish(terminal, reader)
        os.close(controller)
        run.stdout, run.stderr = buffers["stdout"].getvalue(), buffers["stderr"].getvalue()
        run.terminal = b"".join(run._chunks).decode("utf-8", "replace")
