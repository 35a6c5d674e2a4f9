"""The real birdcam window on a private X display, driven as a user drives it.

Freezes are tested on the real event loop: `qtbot.waitUntil` keeps Python running on the GUI thread
and so hides a window that is stuck for good. Here Xvfb is the display, openbox manages its windows
(focus, dialogs), the app is `python -m birdcam` in its own process group, xdotool types and drags,
ImageMagick's `import` takes screenshots and tesseract reads the text in them. A window is alive
when two screenshots a second apart differ while a video plays.

Every wait is bounded; `XDisplay.close()` and `RealWindow.kill()` end every process they started.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

TOOLS = {
    "Xvfb": "xvfb",
    "openbox": "openbox",
    "xdotool": "xdotool",
    "import": "imagemagick",
    "tesseract": "tesseract-ocr",
    "ps": "procps",
}
"""Command -> the Debian package that has it (./dev.sh test installs the missing ones)."""

SCREEN_SIZE = (1280, 800)
_COMMAND_TIMEOUT_S = 15.0
_CHANGED_LEVEL = 24
"""A pixel counts as changed when a channel moves by more than this (screenshots are lossless)."""
_ALIVE_FRACTION = 0.01
"""Share of the window's pixels that must change between two screenshots: a playing video moves far
more (the test videos' bar sweeps the picture); clocks and fps figures in the status bar far less."""
_WHITE_LEVEL = 215
"""read_text(white_text=True) keeps pixels whose every channel is above this."""
WHOLE = (0.0, 0.0, 1.0, 1.0)
"""The whole window, as a region for read_text."""


_OPENBOX_CONFIG = """<?xml version="1.0"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <applications><application class="*"><decor>no</decor></application></applications>
</openbox_config>
"""
"""No title bars: `xdotool getwindowgeometry` counts a frame's title bar twice, so a framed window reads too low.
No key bindings either, so every key reaches the app."""


def missing_tools() -> list[str]:
    """The tools of TOOLS that are not on PATH, as 'command (package)'."""
    return [f"{command} ({package})" for command, package in TOOLS.items() if shutil.which(command) is None]


def _run(args: list[str], env: dict[str, str], timeout: float = _COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


class XDisplay:
    """A private X display (Xvfb on the first free number) with openbox managing its windows."""

    def __init__(self, log_dir: Path, size: tuple[int, int] = SCREEN_SIZE):
        self._processes: list[subprocess.Popen] = []
        read_end, write_end = os.pipe()
        try:
            self._start(
                ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "{}x{}x24".format(*size), "-nolisten", "tcp"],
                log_dir / "xvfb.log",
                pass_fds=(write_end,),
            )
            os.close(write_end)
            number = _read_line(read_end, timeout=10.0)
        finally:
            os.close(read_end)
        if not number.strip().isdigit():
            self.close()
            raise RuntimeError(f"Xvfb did not start (see {log_dir / 'xvfb.log'})")
        self.name = f":{number.strip()}"
        self.env = {**os.environ, "DISPLAY": self.name}
        config = log_dir / "openbox.xml"
        config.write_text(_OPENBOX_CONFIG)
        self._start(["openbox", "--config-file", str(config)], log_dir / "openbox.log", env=self.env)
        deadline = time.monotonic() + 10.0
        while _run(["xdotool", "get_num_desktops"], self.env).returncode != 0:  # answers once openbox manages
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"openbox did not start on {self.name} (see {log_dir / 'openbox.log'})")
            time.sleep(0.05)

    def _start(self, args: list[str], log: Path, **kwargs) -> subprocess.Popen:
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        self._processes.append(process)
        return process

    def close(self) -> None:
        for process in reversed(self._processes):
            _stop(process)
        self._processes.clear()


def _loose(text: str) -> str:
    """Text as compared with a needle: without spaces or underscores (tesseract drops an underscore in a file name
    and the space after a colon, and sometimes adds one)."""
    return "".join(text.replace("_", " ").split())


def _read_line(fd: int, timeout: float) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def _stop(process: subprocess.Popen, timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class RealWindow:
    """`python -m birdcam ARGS` on `display`, in its own process group (so its children can be found and killed)."""

    def __init__(self, display: XDisplay, args: list[str], *, cwd: Path, env: dict[str, str], log_dir: Path):
        self.display = display
        self.log_dir = log_dir
        self._env = {**os.environ, "DISPLAY": display.name, **env}
        self._stderr_path = log_dir / f"birdcam-{time.monotonic_ns()}.stderr"
        self._shots = 0
        with open(self._stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "birdcam", *args],
                cwd=cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        self.window = ""
        """The main window's id, once `wait_until_shown()` has found it."""

    def wait_until_shown(self, timeout: float = 30.0) -> None:
        """Waits for the main window (titled "birdcam", or "SOURCE — birdcam") and remembers its id."""
        self.window = self.wait_for_window(r"birdcam$", timeout)

    # -- what it shows -----------------------------------------------------------------------------

    @property
    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")

    def windows(self) -> dict[str, str]:
        """The app's visible windows, id -> title (found by the app's pid: `xdotool search --name` reads only
        WM_NAME, which Qt leaves short or empty on dialogs)."""
        found = self._xdotool("search", "--onlyvisible", "--pid", str(self.process.pid), check=False).split()
        return {window: self.title(window) for window in found}

    def wait_for_window(self, title: str, timeout: float = 30.0) -> str:
        """The id of a visible window of the app whose title matches the regex `title`; fails if none comes,
        or the app ends."""
        deadline = time.monotonic() + timeout
        while True:
            found = [window for window, name in self.windows().items() if re.search(title, name)]
            if found:
                return found[-1]
            if self.process.poll() is not None:
                raise AssertionError(
                    f"birdcam ended (exit code {self.process.returncode}) before a window "
                    f"{title!r} showed; stderr:\n{self.stderr[-3000:]}"
                )
            if time.monotonic() > deadline:
                shot = self.screenshot()
                raise AssertionError(
                    f"no window {title!r} within {timeout:g} s (screen: {shot}; windows: "
                    f"{list(self.windows().values())}); stderr:\n{self.stderr[-3000:]}"
                )
            time.sleep(0.1)

    def title(self, window: str | None = None) -> str:
        return self._xdotool("getwindowname", window or self.window, check=False).strip()

    def geometry(self, window: str | None = None) -> tuple[int, int, int, int]:
        """(x, y, width, height) of a window on the screen."""
        shell = self._xdotool("getwindowgeometry", "--shell", window or self.window)
        values = dict(line.split("=", 1) for line in shell.split())
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])

    def screenshot(self, path: Path | None = None) -> Path:
        """The whole screen as a PNG (numbered, in the log folder, unless `path` is given), to look at."""
        if path is None:
            self._shots += 1
            path = self.log_dir / f"screen-{self._shots:02d}.png"
        cv2.imwrite(str(path), self._grab())
        return path

    def grab(self, region: tuple[float, float, float, float] = WHOLE) -> np.ndarray:
        """A part of the main window now, BGR (fractions x, y, width, height of it)."""
        return self._grab_window(region)

    def alive(self, seconds: float = 1.0) -> bool:
        """True when the window's pixels change between two screenshots `seconds` apart (a playing video moves)."""
        before = self._grab_window().astype(np.int16)
        time.sleep(seconds)
        after = self._grab_window().astype(np.int16)
        changed = np.abs(after - before).max(axis=2) > _CHANGED_LEVEL
        return changed.mean() > _ALIVE_FRACTION

    def read_text(self, region: tuple[float, float, float, float] = WHOLE, *, white_text: bool = False) -> str:
        """The text tesseract reads in a part of the window (fractions x, y, width, height), on one line.

        `white_text`: read only near-white pixels, as black on white (labels drawn over a photo).
        """
        crop = self._grab_window(region)
        if white_text:
            crop = np.where(crop.min(axis=2) > _WHITE_LEVEL, 0, 255).astype(np.uint8)
        crop = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)  # fewer misread dots and underscores
        self._shots += 1
        path = self.log_dir / f"read-{self._shots:02d}.png"
        cv2.imwrite(str(path), crop)
        result = _run(["tesseract", str(path), "-"], self._env, timeout=60.0)
        return " ".join(result.stdout.split())

    def wait_for_text(
        self,
        *needles: str,
        region: tuple[float, float, float, float] = WHOLE,
        white_text: bool = False,
        timeout: float = 20.0,
    ) -> str:
        """What read_text reads once it contains every needle; fails after `timeout` seconds.

        Spaces and underscores do not count (see _loose).
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.read_text(region, white_text=white_text)
            if all(_loose(needle) in _loose(text) for needle in needles):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{needles} not shown within {timeout:g} s (read-{self._shots:02d}.png in "
                    f"{self.log_dir}); read: {text!r}"
                )

    # -- what a user does --------------------------------------------------------------------------

    def activate(self, window: str | None = None) -> None:
        self._xdotool("windowactivate", "--sync", window or self.window)

    def key(self, *keys: str) -> None:
        """Presses keys (xdotool names: "ctrl+m", "Return", "Tab") in the focused window."""
        self._xdotool("key", "--clearmodifiers", "--delay", "60", *keys)

    def type_text(self, text: str) -> None:
        self._xdotool("type", "--clearmodifiers", "--delay", "8", text)

    def drag(self, start: tuple[int, int], end: tuple[int, int], steps: int = 10) -> None:
        """Presses the left button at `start` (screen pixels), moves to `end` in steps, releases it there."""
        self._xdotool("mousemove", "--sync", str(start[0]), str(start[1]))
        self._xdotool("mousedown", "1")
        for step in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * step // steps
            y = start[1] + (end[1] - start[1]) * step // steps
            self._xdotool("mousemove", "--sync", str(x), str(y))
            time.sleep(0.02)
        self._xdotool("mouseup", "1")

    def close(self, timeout: float = 5.0) -> tuple[int, float]:
        """Ctrl+Q in the window; (exit code, seconds until the app and every process it started were gone).

        Fails (after killing them) when they are not gone within `timeout`.
        """
        self.activate()
        start = time.monotonic()
        self.key("ctrl+q")
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"birdcam did not exit within {timeout:g} s of Ctrl+Q; stderr:\n{self.stderr[-3000:]}"
            ) from None
        while (left := self.leftover_processes()) and time.monotonic() < start + timeout:
            time.sleep(0.02)
        took = time.monotonic() - start
        if left:
            self.kill()
            raise AssertionError(f"{timeout:g} s after Ctrl+Q, birdcam's processes are still running: {left}")
        return self.process.returncode, took

    def leftover_processes(self) -> list[str]:
        """Live processes of the app's process group other than a running app itself (its children)."""
        listing = subprocess.run(
            ["ps", "-A", "-o", "pid=,pgid=,stat=,args="], capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S
        ).stdout
        left = []
        for line in listing.splitlines():
            pid, pgid, stat, args = (line.split(None, 3) + [""])[:4]
            if int(pgid) == self.process.pid and int(pid) != self.process.pid and not stat.startswith("Z"):
                left.append(f"{pid} {args}")
        return left

    def kill(self) -> None:
        """Kills the app and every process of its group; waits for the app."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(_COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass

    def _grab(self) -> np.ndarray:
        """The screen now, BGR (uncompressed through a pipe: a PNG costs seconds on a busy machine)."""
        result = subprocess.run(
            ["import", "-window", "root", "ppm:-"], env=self._env, capture_output=True, timeout=_COMMAND_TIMEOUT_S
        )
        image = cv2.imdecode(np.frombuffer(result.stdout, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None, f"screenshot failed: {result.stderr.decode(errors='replace').strip()}"
        return image

    def _grab_window(self, region: tuple[float, float, float, float] = WHOLE) -> np.ndarray:
        """A part of the main window now (fractions x, y, width, height of it), clipped to the screen."""
        x, y, width, height = self.geometry()
        left, top = max(0, x + int(region[0] * width)), max(0, y + int(region[1] * height))
        return self._grab()[
            top : y + int((region[1] + region[3]) * height), left : x + int((region[0] + region[2]) * width)
        ]

    def _xdotool(self, *args: str, check: bool = True) -> str:
        result = _run(["xdotool", *args], self._env)
        if check and result.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout
