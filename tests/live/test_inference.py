"""The inference process: the real starter model behind a process boundary, and every way a model can fail."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import fake_models
import numpy as np
import pytest

from birdcam.errors import ModelError
from birdcam.live.inference import (
    InferenceOptions,
    InferenceProcess,
    LiveSettings,
    LoadCancelled,
    ModelCrashed,
    ModelHung,
)
from birdcam.live.inference.process import block_prefix
from birdcam.models.classifier import Classifier
from birdcam.scene.scene_pass import ScenePass


def shm_blocks() -> set[str]:
    """The shared memory blocks this test process's InferenceProcesses hold now (Linux shows them in /dev/shm)."""
    folder = Path("/dev/shm")
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if p.name.startswith(block_prefix())}


def frame_of(value: int, shape=(48, 64, 3)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


def test_the_starter_model_in_a_process_says_what_it_says_in_this_one(starter_model, shared_dir):
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    cat = cv2.imread(str(shared_dir / "images" / "not-birds" / "cat.jpg"))
    wide = cv2.resize(duck, (1280, 720))
    blocks_before = shm_blocks()
    with ScenePass(Classifier.from_path(starter_model, top_k=7)) as local:
        expected = [local.process(image, t) for t, image in enumerate((duck, duck, cat, wide, wide))]
    with InferenceProcess(InferenceOptions(model=str(starter_model))) as process:
        info = process.wait_ready()
        assert process.pid != os.getpid()
        got = [process.process(image, float(t)) for t, image in enumerate((duck, duck, cat, wide, wide))]
        assert shm_blocks() - blocks_before, "frames travel through shared memory"

    assert info.labels[166].common_name == "Mandarin Duck" and info.background_index == 964
    for mine, theirs in zip(expected, got):
        np.testing.assert_array_equal(mine.probabilities, theirs.probabilities)
        assert mine.birds == theirs.birds
        assert mine.whole == theirs.whole
    assert got[1].top.label.common_name == "Mandarin Duck" and got[1].top.score > 0.8
    assert got[2].birds == () and got[4].top.label.common_name == "Mandarin Duck", (
        "a new scene is taken on its second frame"
    )
    assert shm_blocks() == blocks_before, "closing frees the shared memory"


def test_a_model_that_fails_at_load_is_one_line_and_no_process(shared_dir):
    invalid = shared_dir / "models" / "invalid" / "model_invoking_error.tflite"
    process = InferenceProcess(InferenceOptions(model=str(invalid)))
    with pytest.raises(ModelError) as error:
        process.wait_ready()
    message = str(error.value)
    assert "model_invoking_error.tflite" in message and "\n" not in message
    assert not process.alive


def test_a_load_that_hangs_is_killed_after_the_timeout():
    process = InferenceProcess(
        InferenceOptions(model="stuck.tflite", load_timeout_s=1.0), factory=fake_models.hang_on_load
    )
    started = time.monotonic()
    with pytest.raises(ModelHung, match="stuck.tflite did not load within 1 s"):
        process.wait_ready()
    assert time.monotonic() - started < 3.0
    assert not process.alive


def test_a_load_that_segfaults_is_a_message():
    process = InferenceProcess(InferenceOptions(model="boom.tflite"), factory=fake_models.crash_on_load)
    with pytest.raises(ModelCrashed, match=r"boom.tflite crashed \(SIGSEGV\)"):
        process.wait_ready()
    assert not process.alive


def test_a_cancelled_load_is_killed_at_once():
    process = InferenceProcess(InferenceOptions(model="fake:load_s=30"), factory=fake_models.fake_scene)
    started = time.monotonic()
    with pytest.raises(LoadCancelled):
        process.wait_ready(cancelled=lambda: time.monotonic() - started > 0.2)
    assert time.monotonic() - started < 1.0
    assert not process.alive


def test_a_frame_that_segfaults_or_hangs_is_a_message_and_the_process_is_gone():
    crashing = InferenceProcess(InferenceOptions(model="fake:crash_at=2"), factory=fake_models.fake_scene)
    crashing.wait_ready()
    assert crashing.process(frame_of(200), 0.0).top.score == pytest.approx(200 / 255)
    with pytest.raises(ModelCrashed, match="SIGSEGV"):
        crashing.process(frame_of(100), 0.1)
    assert not crashing.alive

    hanging = InferenceProcess(
        InferenceOptions(model="fake:hang_at=1", frame_timeout_s=0.5), factory=fake_models.fake_scene
    )
    hanging.wait_ready()
    started = time.monotonic()
    with pytest.raises(ModelHung, match="more than 0.5 s on one frame"):
        hanging.process(frame_of(100), 0.0)
    assert time.monotonic() - started < 2.0
    assert not hanging.alive


def test_a_frame_that_raises_is_a_message_and_the_process_goes_on():
    with InferenceProcess(InferenceOptions(model="fake:fail_at=2"), factory=fake_models.fake_scene) as process:
        process.wait_ready()
        process.process(frame_of(10), 0.0)
        with pytest.raises(ModelError, match="fake failure on call 2"):
            process.process(frame_of(20), 0.1)
        assert process.process(frame_of(30), 0.2).top.score == pytest.approx(30 / 255)


def test_frames_of_any_size_settings_and_resets_reach_the_process():
    with InferenceProcess(InferenceOptions(model="fake:"), factory=fake_models.fake_scene) as process:
        process.wait_ready()
        small = process.process(frame_of(100, (10, 20, 3)), 0.0)
        large = process.process(frame_of(120, (720, 1280, 3)), 0.1)
        assert small.top.box == (0, 0, 20, 10) and large.top.box == (0, 0, 1280, 720)
        process.configure(LiveSettings(threshold=0.5))
        assert process.process(frame_of(100), 0.2).birds == (), "100/255 is below the new threshold"
        assert process.process(frame_of(200), 0.3).top.track == 1
        process.reset()
        assert process.process(frame_of(200), 0.4).top.track == 2, "the reset reached the scene pass"
        assert process.process(frame_of(200), 0.5).timings.detector_ms == 0.0
        process.configure(LiveSettings(threshold=0.5, still_camera=True))
        assert process.process(frame_of(200), 0.6).timings.detector_ms == 1.0, "the motion search is on"
        process.configure(LiveSettings(threshold=0.5))
        assert process.process(frame_of(200), 0.7).timings.detector_ms == 0.0, "and off again"


def test_close_ends_the_process_within_a_second_even_mid_frame():
    process = InferenceProcess(InferenceOptions(model="fake:seconds=5"), factory=fake_models.fake_scene)
    process.wait_ready()
    import threading

    worker = threading.Thread(target=lambda: pytest.raises(ModelError, process.process, frame_of(1), 0.0))
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    process.close(timeout=0.3)
    worker.join(2)
    assert time.monotonic() - started < 1.0
    assert not process.alive


def test_the_scene_pass_with_a_detector_says_the_same_in_a_process(starter_model, shared_dir):
    import bird_scenes

    from birdcam.models.labels import read_labels
    from birdcam.scene.factory import open_detector

    detector_path = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    names = {label.scientific_name.lower() for label in read_labels(starter_model.parent / "labels.txt")}
    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, names)}
    background = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        background,
        [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]],
        heights=(220, 220),
        positions=[(0.25, 0.5), (0.72, 0.5)],
    )
    closeup = bird_scenes.fill_frame(cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")))
    frames = [frame for _, frame, _ in shot.play()][:40] + [closeup] * 10
    classifier = Classifier.from_path(starter_model, top_k=7)
    with ScenePass(classifier, open_detector(detector_path)) as local:
        expected = [local.process(frame, n / 30) for n, frame in enumerate(frames)]
    with InferenceProcess(InferenceOptions(model=str(starter_model), detector=str(detector_path))) as process:
        assert process.wait_ready().detector_path == str(detector_path)
        got = [process.process(frame, n / 30) for n, frame in enumerate(frames)]

    assert [r.birds for r in got] == [r.birds for r in expected]
    assert max(len(r.birds) for r in got) == 2, "both birds of the shot cross the boundary"
    assert any(bird.closeup for bird in got[-1].birds), "the duck filling the frame is a close-up, on both sides"
