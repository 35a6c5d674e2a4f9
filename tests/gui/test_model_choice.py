"""The window's model and detector choice (Qt-free) with real loads: the inference process, the starter model, the
shared YOLOX-nano, and the broken files a user picks by mistake."""

from __future__ import annotations

import queue
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from birdcam.errors import DetectorError
from birdcam.gui.model_choice import WHOLE_FRAME, ModelChoice, Part, Rejected, Retrying, Running
from birdcam.live.pipeline import LivePipeline

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Saved:
    """What the window's settings remember."""

    model: str | None = None
    detector: str | None = None
    detection: bool = True


class Loads:
    """A real live pipeline whose load outcomes go through the choice, one at a time."""

    def __init__(self, saved: Saved, **explicit):
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.pipeline = LivePipeline(
            on_result=lambda result: None,
            on_status=lambda kind, message: None,
            on_model_ready=lambda info, request: self.outcomes.put(("ready", info, request)),
            on_model_failed=lambda error, request: self.outcomes.put(("failed", error, request)),
        )
        self.requests: list = []
        self.choice = ModelChoice(saved, self._load, **explicit)

    def _load(self, model, detector):
        request = self.pipeline.load_model(model, detector)
        self.requests.append((model, detector))
        return request

    def next(self, timeout: float = 60.0):
        """The choice's outcome of the next load that ends."""
        kind, value, request = self.outcomes.get(timeout=timeout)
        return self.choice.loaded(value, request) if kind == "ready" else self.choice.failed(value, request)

    def close(self) -> None:
        self.pipeline.close()


@pytest.fixture
def loads():
    made = []

    def make(saved: Saved, **explicit) -> Loads:
        made.append(Loads(saved, **explicit))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def yolox(shared_dir) -> str:
    return str(shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite")


def test_it_imports_without_qt():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, birdcam.gui.model_choice; print('PySide6' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.stdout.strip() == "False", done.stderr


def test_a_saved_detector_that_no_longer_loads_falls_back_to_the_default_and_is_forgotten(
    loads, starter_model, tmp_path
):
    gone = tmp_path / "gone.tflite"
    gone.write_text("not a detector any more")
    saved = Saved(detector=str(gone))
    run = loads(saved, model=str(starter_model))
    run.choice.start()
    retrying = run.next()
    assert isinstance(retrying, Retrying) and "detector gone.tflite saved last time does not load" in retrying.message
    running = run.next()
    assert isinstance(running, Running) and "default detector runs instead" in running.warning
    assert run.requests == [(str(starter_model), str(gone)), (str(starter_model), None)]
    assert saved.detector is None and run.choice.running is not None


def test_a_detector_that_fails_is_the_detectors_fault_and_is_not_remembered(loads, starter_model, yolox):
    saved = Saved(detector=yolox)
    run = loads(saved, model=str(starter_model))
    run.choice.start()
    assert run.next() == Running() and run.choice.detecting
    run.choice.open_detector(str(starter_model))  # a classifier, not a detector
    rejected = run.next()
    assert isinstance(rejected, Rejected) and rejected.part == Part.DETECTOR and rejected.running
    assert rejected.message.startswith("Could not load the detector")
    assert "keeps running with yolox_nano_float16_quantize.tflite" in rejected.message
    assert "Use the default detector" in rejected.message and "model" not in rejected.message.split(":")[0]
    assert "--model" not in rejected.message and "use it as the model, not as the detector" in rejected.message
    assert saved.detector == yolox, "the detector that failed was saved"
    assert run.choice.running.detector == yolox


def test_after_a_failed_model_a_detector_change_runs_with_the_model_that_ran(loads, starter_model, tmp_path, yolox):
    broken = tmp_path / "broken.tflite"
    broken.write_text("not a flatbuffer")
    saved = Saved(detection=False)
    run = loads(saved, model=str(starter_model))
    run.choice.start()
    assert isinstance(run.next(), Running)
    run.choice.open_model(str(broken))
    rejected = run.next()
    assert isinstance(rejected, Rejected) and rejected.part == Part.MODEL
    assert "broken.tflite" in rejected.message and f"{starter_model.stem} keeps running" in rejected.message
    run.choice.open_detector(yolox)
    assert isinstance(run.next(), Running) and run.choice.detecting
    assert run.requests[-1] == (str(starter_model), yolox), "the failed model was tried again"
    assert saved.model is None and saved.detector == yolox and saved.detection


def test_with_no_model_to_be_had_it_says_so_and_nothing_runs(loads):
    saved = Saved(detection=False)
    run = loads(saved)  # offline, nothing cached
    run.choice.start()
    rejected = run.next()
    assert isinstance(rejected, Rejected) and not rejected.running and rejected.message.startswith("No model runs")
    assert run.choice.info is None and not run.choice.loading


def test_the_outcome_of_a_superseded_request_is_ignored(loads, starter_model, yolox):
    saved = Saved(detection=False)
    run = loads(saved, model=str(starter_model))
    run.choice.start()
    run.choice.set_detection(True)  # before the first load is done: it supersedes it
    outcome = run.next()
    if outcome is None:  # the first load was done already: its outcome comes first, and counts for nothing
        outcome = run.next()
    assert isinstance(outcome, Running)
    assert run.choice.running.detector is None and run.requests == [
        (str(starter_model), WHOLE_FRAME),
        (str(starter_model), None),
    ]


def test_the_named_detector_error_type_crosses_the_process(loads, starter_model, tmp_path):
    text = tmp_path / "notes.tflite"
    text.write_text("a text file")
    run = loads(Saved(), model=str(starter_model), detector=str(text))
    run.pipeline.load_model(str(starter_model), str(text))
    kind, error, _ = run.outcomes.get(timeout=60)
    assert kind == "failed" and isinstance(error, DetectorError) and "notes.tflite" in str(error)
