"""The one-slot frame holder and the capture thread: dropping, ordering, reconnecting, stopping."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from birdcam.errors import SourceError
from birdcam.live.capture import CaptureThread, LatestFrame
from birdcam.live.sources import CameraSource, Frame, FrameSource, StreamSource, VideoSource

IMAGE = np.zeros((4, 4, 3), np.uint8)


def frame(index: int) -> Frame:
    return Frame(index, IMAGE, time.monotonic())


class Recorder:
    """Collects what a CaptureThread reports."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.statuses: list[tuple[str, str]] = []

    def on_frame(self, captured: Frame) -> None:
        self.frames.append(captured)

    def on_status(self, kind: str, message: str) -> None:
        self.statuses.append((kind, message))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.statuses]


class FlakyCamera(FrameSource):
    """A live source at 200 fps that drops after `drop_after` frames and then refuses `refusals` reopens."""

    is_live = True
    description = "flaky camera"

    def __init__(self, drop_after: int | None = None, refusals: int = 0):
        self.drop_after = drop_after
        self.refusals = refusals
        self.opens = 0
        self.served = 0
        self.closed = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens > 1 and self.refusals:
            self.refusals -= 1
            raise SourceError("flaky camera is not available")

    def read(self) -> np.ndarray:
        time.sleep(0.005)
        if self.served == self.drop_after:
            self.drop_after = None
            raise SourceError("flaky camera stopped sending frames")
        self.served += 1
        return np.full((4, 4, 3), self.served % 256, np.uint8)

    def close(self) -> None:
        self.closed += 1


def wait_until(condition, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.005)
    return True


def test_latest_frame_keeps_only_the_newest_and_counts_drops():
    holder = LatestFrame()
    for index in range(100):
        holder.put(frame(index))
    assert holder.get(timeout=0).index == 99
    assert holder.dropped == 99
    assert holder.get(timeout=0.05, newer_than=99) is None
    holder.put(frame(100))
    assert holder.get(newer_than=99).index == 100
    assert holder.dropped == 99


def test_slow_consumer_sees_fewer_frames_always_newer_and_ends_on_the_last():
    holder = LatestFrame()
    seen = []

    def consume():
        last = -1
        while (taken := holder.get(timeout=2, newer_than=last)) is not None:
            seen.append(taken.index)
            last = taken.index
            time.sleep(0.01)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for index in range(200):
        holder.put(frame(index))
        time.sleep(0.001)
    assert wait_until(lambda: seen and seen[-1] == 199)
    holder.close()
    consumer.join(1)
    assert not consumer.is_alive()
    assert len(seen) < 200
    assert seen == sorted(set(seen))
    assert holder.dropped == 200 - len(seen)


def test_close_wakes_a_waiting_consumer():
    holder = LatestFrame()
    results = []
    waiter = threading.Thread(target=lambda: results.append(holder.get()))
    waiter.start()
    time.sleep(0.05)
    holder.close()
    waiter.join(1)
    assert not waiter.is_alive() and results == [None]
    holder.put(frame(0))
    assert holder.get() is None


def write_clip(path: Path, shared_dir: Path) -> Path:
    """A 10-frame MJPG clip of ten different bird photos."""
    photos = [cv2.imread(str(p)) for p in sorted((shared_dir / "birds525-sample" / "valid").glob("*/2.jpg"))[:10]]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (224, 224))
    for photo in photos:
        writer.write(photo)
    writer.release()
    return path


def test_capture_thread_numbers_every_frame_of_a_video_and_reports_its_end(tmp_path, shared_dir):
    clip = write_clip(tmp_path / "clip.avi", shared_dir)

    recorder = Recorder()
    thread = CaptureThread(VideoSource(clip, realtime=False, loop=False), recorder.on_frame, recorder.on_status)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert [captured.index for captured in recorder.frames] == list(range(10))
    stamps = [captured.t_capture for captured in recorder.frames]
    assert stamps == sorted(stamps)
    assert recorder.kinds() == ["started", "ended"]
    assert recorder.statuses[1][1] == "video: clip.avi ended"


def test_missing_camera_reports_an_error_and_the_thread_ends():
    recorder = Recorder()
    thread = CaptureThread(CameraSource(99), recorder.on_frame, recorder.on_status)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert recorder.frames == []
    assert recorder.kinds() == ["error"]
    assert "camera 99 is not available" in recorder.statuses[0][1]


def test_a_dropped_live_source_is_reopened_with_back_off_and_carries_on():
    camera = FlakyCamera(drop_after=5, refusals=2)
    recorder = Recorder()
    thread = CaptureThread(camera, recorder.on_frame, recorder.on_status, retry_delays=(0.01, 0.05))
    thread.start()
    assert wait_until(lambda: len(recorder.frames) >= 10)
    thread.stop()
    assert not thread.is_alive()
    assert recorder.kinds()[:5] == ["started", "retrying", "retrying", "retrying", "recovered"]
    messages = [message for _, message in recorder.statuses[1:4]]
    assert messages == [
        "flaky camera stopped sending frames; retrying in 0.01 s (attempt 1)",
        "flaky camera is not available; retrying in 0.05 s (attempt 2)",
        "flaky camera is not available; retrying in 0.05 s (attempt 3)",
    ]
    assert camera.opens == 4
    indices = [captured.index for captured in recorder.frames]
    assert indices == list(range(len(indices)))
    assert camera.closed == 2  # once when it dropped, once when the thread ended


def test_a_real_stream_that_ends_is_reconnected_and_a_server_that_goes_away_is_retried(tmp_path, shared_dir):
    clip = write_clip(tmp_path / "clip.avi", shared_dir)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    recorder = Recorder()
    thread = CaptureThread(StreamSource(url), recorder.on_frame, recorder.on_status, retry_delays=(0.05,))
    thread.start()
    try:
        # The served file ends after 10 frames; the stream counts as dropped and is opened again.
        assert wait_until(lambda: len(recorder.frames) >= 25, timeout=10)
        assert [captured.index for captured in recorder.frames[:25]] == list(range(25))
        assert {"retrying", "recovered"} <= set(recorder.kinds())
        assert "stopped sending frames; retrying in 0.05 s" in recorder.statuses[recorder.kinds().index("retrying")][1]
    finally:
        server.shutdown()
        server.server_close()
        serving.join(5)
    assert wait_until(
        lambda: any("cannot connect to" in message for kind, message in recorder.statuses[-3:] if kind == "retrying"),
        timeout=10,
    )
    thread.stop(timeout=1.0)
    assert not thread.is_alive()


def test_stop_joins_promptly_while_running_and_while_backing_off():
    running = CaptureThread(FlakyCamera(), lambda captured: None)
    running.start()
    assert wait_until(lambda: running.frames > 3)
    started = time.monotonic()
    running.stop(timeout=1.0)
    assert not running.is_alive() and time.monotonic() - started < 1.0

    recorder = Recorder()
    waiting = CaptureThread(
        FlakyCamera(drop_after=1, refusals=100), recorder.on_frame, recorder.on_status, retry_delays=(30,)
    )
    waiting.start()
    assert wait_until(lambda: "retrying" in recorder.kinds())
    started = time.monotonic()
    waiting.stop(timeout=1.0)
    assert not waiting.is_alive() and time.monotonic() - started < 1.0


def test_capture_fps_measures_the_rate_frames_arrive_at():
    thread = CaptureThread(FlakyCamera(), lambda captured: None)
    assert thread.capture_fps == 0.0
    thread.start()
    assert wait_until(lambda: thread.frames >= 40)
    fps = thread.capture_fps
    thread.stop()
    # FlakyCamera sleeps 5 ms per frame: at most 200 fps, and well above 20 even on a busy machine.
    assert 20 < fps <= 200


def test_capture_thread_needs_a_retry_delay():
    with pytest.raises(ValueError):
        CaptureThread(FlakyCamera(), lambda captured: None, retry_delays=())


def test_a_stream_whose_server_is_not_up_yet_is_retried_until_it_is(tmp_path, shared_dir):
    clip = write_clip(tmp_path / "clip.avi", shared_dir)
    with socket_reserved() as port:
        url = f"http://127.0.0.1:{port}/{clip.name}"
        recorder = Recorder()
        thread = CaptureThread(StreamSource(url), recorder.on_frame, recorder.on_status, retry_delays=(0.1,))
        thread.start()
    try:
        assert wait_until(lambda: recorder.kinds().count("retrying") >= 2, timeout=10)
        assert "cannot connect to" in recorder.statuses[0][1] and recorder.frames == []
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        serving = threading.Thread(target=server.serve_forever)
        serving.start()
        try:
            assert wait_until(lambda: len(recorder.frames) >= 5, timeout=10)
        finally:
            server.shutdown()
            server.server_close()
            serving.join(5)
    finally:
        thread.stop(timeout=1.0)
    assert "recovered" in recorder.kinds() and "started" in recorder.kinds()
    assert "error" not in recorder.kinds()


class BuggySource(FrameSource):
    """Raises something other than SourceError from read() after three frames (a driver's or a bug's surprise)."""

    description = "buggy source"

    def __init__(self, live: bool):
        self.is_live = live
        self.reads = 0

    def open(self) -> None:
        self.reads = 0

    def read(self) -> np.ndarray:
        time.sleep(0.005)
        self.reads += 1
        if self.reads == 4:
            raise ZeroDivisionError("division by zero")
        return IMAGE


def test_a_surprise_in_a_file_source_is_an_error_and_in_a_live_one_a_drop():
    recorder = Recorder()
    thread = CaptureThread(BuggySource(live=False), recorder.on_frame, recorder.on_status)
    thread.start()
    thread.join(5)
    assert recorder.kinds() == ["started", "error"] and len(recorder.frames) == 3
    assert recorder.statuses[-1][1] == ("buggy source failed (division by zero); open it again or pick another source")

    recorder = Recorder()
    thread = CaptureThread(BuggySource(live=True), recorder.on_frame, recorder.on_status, retry_delays=(0.01,))
    thread.start()
    assert wait_until(lambda: len(recorder.frames) >= 6)
    thread.stop()
    assert recorder.kinds()[:3] == ["started", "retrying", "recovered"]
    assert "buggy source failed (division by zero); retrying" in recorder.statuses[1][1]


@contextlib.contextmanager
def socket_reserved():
    """A loopback port nothing listens on (yet)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield port
