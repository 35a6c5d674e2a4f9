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


def _drain(controller: int, chunks: list[bytes]) -> threading.Thread:
    """Reads the pty until every writer has closed it (so writers never block on a full pty)."""

    def read() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


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
        os.close(terminal)
        terminal = -1
        out, err = child.communicate(timeout=timeout)
        run.code = child.returncode
    finally:
        if terminal >= 0:
            os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    run.stdout = (out or b"").decode("utf-8", "replace")
    run.stderr = (err or b"").decode("utf-8", "replace")
    run.terminal = b"".join(run._chunks).decode("utf-8", "replace")
    return run


@contextlib.contextmanager
def terminal_streams(*, stdout: bool, stderr: bool) -> Iterator[TerminalRun]:
    """sys.stdout / sys.stderr on a terminal when True, on a buffer when False; the texts are in the yielded run at exit."""
    controller, terminal = _open_terminal()
    run = TerminalRun()
    reader = _drain(controller, run._chunks)
    on_terminal = open(terminal, "w", encoding="utf-8", buffering=1)  # closes the fd when closed
    buffers = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    saved = sys.stdout, sys.stderr
    sys.stdout = on_terminal if stdout else buffers["stdout"]
    sys.stderr = on_terminal if stderr else buffers["stderr"]
    try:
        yield run
    finally:
        sys.stdout, sys.stderr = saved
        on_terminal.close()
        reader.join(timeout=10)
        os.close(controller)
        run.stdout, run.stderr = buffers["stdout"].getvalue(), buffers["stderr"].getvalue()
        run.terminal = b"".join(run._chunks).decode("utf-8", "replace")
