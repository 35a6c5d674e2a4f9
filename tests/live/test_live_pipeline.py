"""The Qt-free live pipeline: newest frame wins, crashed processes come back, the newest model request wins."""

from __future__ import annotations

import threading
import time

import fake_models
import numpy as np
import pytest

from birdcam.live import pipeline as live
from birdcam.live.capture import LatestFrame
from birdcam.live.inference import InferenceOptions, InferenceProcess, LiveSettings, child_pids
from birdcam.live.pipeline import InferenceDriver, LivePipeline
from birdcam.live.sources import Frame


@pytest.fixture(autouse=True)
def nothing_left_running():
    threads_before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        threads = [t.name for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not threads:
            break
        time.sleep(0.02)
    assert threads == [], f"a test left threads running: {threads}"


class Collector:
    """Records every callback; `wait(predicate)` polls until it holds."""

    def __init__(self):
        self.results, self.errors, self.failed, self.ready, self.statuses = [], [], [], [], []

    def wait(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.01)


def fake_frame(index: int, value: int | None = None) -> Frame:
    return Frame(index, np.full((32, 32, 3), index % 256 if value is None else value, np.uint8), time.monotonic())


def start_driver(events: Collector, frames: LatestFrame) -> tuple[InferenceDriver, threading.Thread]:
    driver = InferenceDriver(
        frames, on_result=events.results.append, on_error=events.errors.append, on_failed=events.failed.append
    )
    thread = threading.Thread(target=driver.run, name="test driver")
    thread.start()
    return driver, thread


def loaded(model: str) -> InferenceProcess:
    process = InferenceProcess(InferenceOptions(model=model), factory=fake_models.fake_scene)
    process.wait_ready()
    return process


def test_a_slow_model_gets_the_newest_frame_each_time():
    events, frames = Collector(), LatestFrame()
    driver, thread = start_driver(events, frames)
    try:
        driver.set_process(loaded("fake:seconds=0.03"))
        for index in range(100):
            frames.put(fake_frame(index))
            time.sleep(0.003)
        events.wait(lambda: events.results and events.results[-1].frame_index == 99)
    finally:
        driver.stop()
        thread.join(2)
    indices = [r.frame_index for r in events.results]
    assert 3 <= len(indices) < 60, "a model 10x slower than the frames must skip most of them"
    assert indices == sorted(set(indices))
    assert events.results[-1].scene.top.score == pytest.approx(99 / 255)
    assert all(r.t_done >= r.t_capture for r in events.results)


def test_a_crashing_process_is_restarted_and_given_up_when_it_keeps_crashing(monkeypatch):
    monkeypatch.setattr(live, "RESTARTS_ALLOWED", 2)
    events, frames = Collector(), LatestFrame()
    driver, thread = start_driver(events, frames)
    try:
        driver.configure(LiveSettings(threshold=0.5))
        driver.set_process(loaded("fake:crash_at=2"))

        def answered(count: int):
            """Whether `count` frames have been answered (a result, an error or the end), for events.wait."""
            return lambda: len(events.results) + len(events.errors) + len(events.failed) >= count

        index = 0
        for expected_errors in (1, 2):  # frame 1 works, frame 2 crashes, the restarted one does the same
            for _ in range(2):
                frames.put(fake_frame(index, 200))
                index += 1
                events.wait(answered(index))
            assert len(events.errors) == expected_errors and "crashed (SIGSEGV); restarting it" in events.errors[-1]
        frames.put(fake_frame(index, 100))
        index += 1
        events.wait(lambda: len(events.results) == 3)
        assert events.results[-1].scene.birds == (), "the restarted process kept the settings (threshold 0.5)"
        frames.put(fake_frame(index, 200))
        events.wait(lambda: events.failed)
    finally:
        driver.stop()
        thread.join(2)
    assert "3 times within 60 s" in events.failed[0] and "choose another model" in events.failed[0]


def test_a_hung_frame_restarts_the_process(tmp_path):
    events, frames = Collector(), LatestFrame()
    driver, thread = start_driver(events, frames)
    try:
        process = InferenceProcess(
            InferenceOptions(model=f"fake:hang_at=1,once={tmp_path / 'hung'}", frame_timeout_s=0.3),
            factory=fake_models.fake_scene,
        )
        process.wait_ready()
        driver.set_process(process)
        frames.put(fake_frame(0, 50))
        events.wait(lambda: events.errors)
        frames.put(fake_frame(1, 60))
        events.wait(lambda: events.results)
    finally:
        driver.stop()
        thread.join(2)
    assert "took more than 0.3 s on one frame" in events.errors[0]
    assert events.results[0].frame_index == 1


@pytest.fixture
def pipeline_events():
    events = Collector()
    pipelines = []

    def make(**options) -> LivePipeline:
        pipeline = LivePipeline(
            on_result=events.results.append,
            on_status=lambda kind, message: events.statuses.append((kind, message)),
            on_model_ready=lambda info, request: events.ready.append((info, request)),
            on_model_failed=lambda error, request: events.failed.append(str(error)),
            on_error=events.errors.append,
            factory=fake_models.fake_scene,
            **options,
        )
        pipelines.append(pipeline)
        return pipeline

    yield events, make
    for pipeline in pipelines:
        pipeline.close()


def test_the_newest_model_request_wins_and_the_old_model_serves_meanwhile(pipeline_events, tmp_path):
    import cv2

    events, make = pipeline_events
    pipeline = make()
    pipeline.load_model("fake:")
    events.wait(lambda: len(events.ready) == 1)
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "grey.png"), np.full((40, 40, 3), 128, np.uint8))
    assert pipeline.start_source(str(folder))
    events.wait(lambda: events.results)
    pipeline.load_model("fake:load_s=30")
    pipeline.load_model("fake:load_s=0.5,seconds=0.01")
    served_meanwhile = len(events.results)
    events.wait(lambda: len(events.ready) == 2)
    time.sleep(0.3)
    assert len(events.results) > served_meanwhile, "the old model kept classifying during the load"
    assert [request.model for _, request in events.ready] == ["fake:", "fake:load_s=0.5,seconds=0.01"]
    assert len(child_pids()) == 1, "the abandoned load and the replaced model were ended"
    assert events.results[-1].info.model_path == "fake:load_s=0.5,seconds=0.01"


def test_closing_during_a_load_does_not_wait_for_it(pipeline_events):
    events, make = pipeline_events
    pipeline = make()
    pipeline.load_model("fake:load_s=30")
    time.sleep(0.3)
    started = time.monotonic()
    pipeline.close()
    assert time.monotonic() - started < 1.0


def test_a_bad_model_during_a_switch_keeps_the_running_one(pipeline_events, shared_dir, starter_model):
    events, make = pipeline_events
    pipeline = LivePipeline(
        on_result=events.results.append,
        on_status=lambda kind, message: events.statuses.append((kind, message)),
        on_model_ready=lambda info, request: events.ready.append((info, request)),
        on_model_failed=lambda error, request: events.failed.append(str(error)),
    )
    try:
        pipeline.load_model(str(starter_model))
        events.wait(lambda: events.ready)
        assert pipeline.start_source(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
        events.wait(lambda: events.results)
        pipeline.load_model(str(shared_dir / "models" / "invalid" / "model_invoking_error.tflite"))
        events.wait(lambda: events.failed)
        count = len(events.results)
        events.wait(lambda: len(events.results) > count + 3)
    finally:
        pipeline.close()
    assert "model_invoking_error.tflite" in events.failed[0]
    assert events.results[-1].info.model_path == str(starter_model)
    assert events.results[-1].scene.top.label.common_name == "Mandarin Duck"


def test_the_first_run_downloads_the_starter_model_with_progress(starter_model, tmp_path, monkeypatch):
    """No model anywhere: the inference process fetches the starter from a mirror on 127.0.0.1 and says how far it
    is."""
    import functools
    import http.server
    import shutil

    from birdcam.live.pipeline import ModelLoader
    from birdcam.models.shipped import extended_starter_path
    from birdcam.models.store import AIY_BIRDS_V1

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(starter_model, mirror / AIY_BIRDS_V1.model.filename)
    shutil.copy(starter_model.parent / "labels.txt", mirror / "labels.txt")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever, name="mirror")
    serving.start()
    monkeypatch.delenv("BIRDCAM_OFFLINE")
    monkeypatch.setenv("BIRDCAM_STARTER_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    events, progress = Collector(), []
    loader = ModelLoader(
        InferenceOptions(detector="none"),
        on_loaded=lambda request, process: events.ready.append(process),
        on_failed=lambda request, error: events.failed.append(str(error)),
        on_progress=progress.append,
    )
    try:
        loader.request(None)
        events.wait(lambda: events.ready or events.failed, timeout=30)
    finally:
        loader.close()
        server.shutdown()
        server.server_close()
        serving.join(2)
    assert events.failed == []
    process = events.ready[0]
    try:
        # The downloaded starter, with the shipped Kaggle 525 extension applied to it (models/shipped.py).
        assert process.info.model_path == str(extended_starter_path(AIY_BIRDS_V1.path()))
        assert process.info.labels[166].common_name == "Mandarin Duck"
        assert len(process.info.labels) == 1265
    finally:
        process.close()
    assert progress[0].startswith("Downloading the starter model: ") and progress[-1].endswith(": 100%")
    assert len(progress) == len(set(progress)) > 2  # each percent once
