"""Capture: a thread per source that numbers frames, and a one-slot holder so consumers only ever see the newest.

Nothing here queues frames: a slow consumer makes the holder drop frames, so lag never grows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from birdcam.errors import SourceError, first_line
from birdcam.live.sources import Frame, FrameSource

StatusCallback = Callable[[str, str], None]
"""on_status(kind, message); kind is one of "started", "retrying", "recovered", "ended", "error", or "notice" for
what the source passed over (an image it cannot read)."""
_FPS_WINDOW = 30  # frames over which capture_fps is measured


class LatestFrame:
    """Holds the newest frame only; `put` replaces it, `get` waits for one newer than the caller has seen."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self._closed = False
        self.dropped = 0
        """Frames replaced before anyone took them."""

    def put(self, frame: Frame) -> None:
        """Replaces the held frame (counting it as dropped if nobody took it) and wakes the waiters."""
        with self._condition:
            if not self._taken:
                self.dropped += 1
            self._frame = frame
            self._taken = False
            self._condition.notify_all()

    def get(self, timeout: float | None = None, newer_than: int = -1) -> Frame | None:
        """The newest frame once its index is > newer_than; None on timeout or when closed."""
        with self._condition:
            arrived = self._condition.wait_for(
                lambda: self._closed or (self._frame is not None and self._frame.index > newer_than), timeout
            )
            if self._closed or not arrived:
                return None
            self._taken = True
            return self._frame

    def close(self) -> None:
        """Wakes every waiter; later gets return None at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class CaptureThread(threading.Thread):
    """Reads one source, numbers and time-stamps its images and hands each to on_frame.

    A live source that drops is reopened after each of retry_delays (the last one repeating) until it
    returns or the thread is stopped. A source that cannot be opened at the start, or a file that fails,
    reports "error" and ends the thread. The thread closes the source when it ends.
    """

    def __init__(
        self,
        source: FrameSource,
        on_frame: Callable[[Frame], None],
        on_status: StatusCallback | None = None,
        retry_delays: Sequence[float] = (0.5, 1, 2, 4, 8),
    ):
        super().__init__(name=f"capture {source.description}", daemon=True)
        if not retry_delays:
            raise ValueError("retry_delays needs at least one delay")
        self.source = source
        self._on_frame = on_frame
        self._on_status = on_status
        self._retry_delays = tuple(retry_delays)
        self._stopping = threading.Event()
        self._frame_times: deque[float] = deque(maxlen=_FPS_WINDOW)
        self.frames = 0
        """Frames captured so far."""

    @property
    def capture_fps(self) -> float:
        """Frames per second over the last frames captured (0 until two have arrived)."""
        times = tuple(self._frame_times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def stop(self, timeout: float = 1.0) -> None:
        """Asks the thread to end and joins it for up to timeout seconds."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        self.source.on_notice = lambda message: self._status("notice", message)
        if not self._open():
            self.source.close()
            return
        self._status("started", self.source.description)
        try:
            self._capture_loop()
        except Exception as error:  # a bug or a driver's surprise must be a message, never a silently frozen picture
            self._status(
                "error", f"{self.source.description} failed ({first_line(error)}); open it again or pick another source"
            )
        finally:
            self.source.close()

    def _open(self) -> bool:
        """Opens the source (a stream that is down at the start is retried like one that drops); False if it
        cannot be opened (reported) or the thread was stopped first."""
        try:
            self.source.open()
        except SourceError as error:
            if not self.source.retries_open:
                self._status("error", str(error))
                return False
            return self._reconnect(str(error))
        return not self._stopping.is_set()

    def _capture_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                image = self.source.read()
            except SourceError as error:
                if not self.source.is_live:
                    self._status("error", str(error))
                    return
                if not self._reconnect(str(error)):
                    return
                continue
            except Exception as error:  # from a live device, a surprise is a drop too; from a file, run() reports it
                if not self.source.is_live:
                    raise
                if not self._reconnect(f"{self.source.description} failed ({first_line(error)})"):
                    return
                continue
            if image is None:
                self._status("ended", f"{self.source.description} ended")
                return
            if self._stopping.is_set():
                return
            t_capture = time.monotonic()
            self._frame_times.append(t_capture)
            frame = Frame(self.frames, image, t_capture, self.source.scale)
            self.frames += 1
            self._on_frame(frame)

    def _reconnect(self, reason: str) -> bool:
        """Reopens a dropped live source with back-off; False if stopped first."""
        self.source.close()
        self._frame_times.clear()
        attempt = 0
        while True:
            delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
            attempt += 1
            self._status("retrying", f"{reason}; retrying in {delay:g} s (attempt {attempt})")
            if self._stopping.wait(delay):
                return False
            try:
                self.source.open()
            except SourceError as error:
                reason = str(error)
                continue
            self._status("recovered", f"{self.source.description} is back")
            return True

    def _status(self, kind: str, message: str) -> None:
        if self._on_status is not None:
            self._on_status(kind, message)
