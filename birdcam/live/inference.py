"""Model loading and inference in a child process, so no model can freeze or crash the app.

As Frigate runs its detectors: the child process loads the models and runs the scene pass; frames
reach it through shared memory, results come back through a pipe. The app's process never calls
into LiteRT, so a model that hangs, holds the GIL for seconds or crashes (segfault) costs a message,
never a frozen window. One frame is in flight at a time and the caller always sends the newest, so
nothing queues.

Messages are bytes: a JSON header line, then an optional binary payload (the probabilities). No
pickling of anything read from the child.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from birdcam.errors import BirdcamError, ModelError, first_line
from birdcam.models.labels import Label
from birdcam.scene.scene_pass import Bird, SceneResult, SceneTimings
from birdcam.scene.smoothing import Shown

_CONTEXT = multiprocessing.get_context("spawn")  # the same on Linux, macOS and Windows; no forked threads
_POLL_S = 0.05  # how often a wait looks at its cancel flag
_TERMINATE_GRACE_S = 0.2  # how long a child asked to end may take before it is killed
_SPLIT_COPY_BYTES = 1 << 20  # frames this big are copied into shared memory by two threads
TOP_K = 7  # classes per result: enough runners-up for any top-k the window offers (the background may be one)


class ModelCrashed(ModelError):
    """The inference process died (a crash in native code, killed by the system)."""


class ModelHung(ModelError):
    """The inference process did not answer in time and was killed."""


class LoadCancelled(ModelError):
    """A newer request or closing the app made this load pointless; its process was killed."""


@dataclass(frozen=True)
class LiveSettings:
    """What a user changes while the model runs; sent to the process, applied from the next frame."""

    threshold: float | None = None
    """Score a species needs; None: the model's own."""
    smoothing: bool = True
    """Smooth labels over time (off: each frame's own label)."""
    allow: tuple[str, ...] | None = None
    """Name only these species (a species list: scientific or common names); None: every species."""
    deny: tuple[str, ...] = ()
    """Never name these species."""

    @classmethod
    def from_dict(cls, data: dict) -> LiveSettings:
        """From its JSON form (lists for the tuples)."""
        allow = data.get("allow")
        return cls(
            threshold=data.get("threshold"),
            smoothing=bool(data.get("smoothing", True)),
            allow=tuple(allow) if allow is not None else None,
            deny=tuple(data.get("deny") or ()),
        )


@dataclass(frozen=True)
class InferenceOptions:
    """What the inference process loads and how long it may take."""

    model: str | None = None
    """A .tflite file; None: the default model (`birdcam models` says which)."""
    labels: str | None = None
    """A label file that overrides the model's own; None: the model's."""
    detector: str | None = None
    """A bird detector .tflite; "none": whole-frame mode; None: the default detector (`birdcam models`), or
    whole-frame mode with a note when it cannot be had (offline)."""
    num_threads: int = 2
    """CPU threads LiteRT may use."""
    settings: LiveSettings | None = None
    """Threshold, smoothing and species lists to start with; None: the model's defaults."""
    load_timeout_s: float = 120.0
    """A load (download excluded) that takes longer is taken for hung: the process is killed."""
    frame_timeout_s: float = 15.0
    """A frame that takes longer is taken for hung: the process is killed (and restarted by the driver)."""


@dataclass(frozen=True)
class ModelInfo:
    """What the parent knows about the models a process runs (sent once, when they are loaded)."""

    model_path: str
    """The classifier's .tflite file."""
    name: str
    """The classifier's name (its model card's, else the file name)."""
    labels: tuple[Label, ...]
    """One per classifier output."""
    background_index: int | None
    """The non-bird class, if the model has one."""
    threshold: float
    """The model's own threshold (its card's, else the default)."""
    top_k: int
    """Classes each bird's `top` lists."""
    detector_path: str | None = None
    """The detector's .tflite file; None: whole-frame mode."""
    detector_note: str = ""
    """Why there is no detector when one was wanted (e.g. offline), "" otherwise."""

    @property
    def stem(self) -> str:
        return Path(self.model_path).stem


SceneFactory = Callable[[InferenceOptions, Callable[[str], None]], tuple[object, ModelInfo]]
"""Builds (scene pass, its ModelInfo) inside the child; the callable reports download progress."""


def build_scene_pass(options: InferenceOptions, progress: Callable[[str], None]):
    """The default factory: the model `birdcam models` names, run by the scene pass."""
    from birdcam.models.classifier import Classifier
    from birdcam.models.store import resolve_detector, resolve_model
    from birdcam.scene.scene_pass import ScenePass, open_detector

    resolved = resolve_model(options.model, progress=_percent_reporter(progress, "the starter model"))
    labels = Path(options.labels) if options.labels else resolved.labels_path
    classifier = Classifier.from_path(resolved.path, labels_path=labels, num_threads=options.num_threads, top_k=TOP_K)
    detector, note = None, ""
    try:
        found = resolve_detector(options.detector, progress=_percent_reporter(progress, "the bird detector"))
    except ModelError as error:
        if options.detector is not None:
            classifier.close()
            raise  # asked for by name: the load fails with its reason
        found, note = None, f"{error} Birds are named on the whole frame meanwhile."
    try:
        if found is not None:
            detector = open_detector(found.path, labels_path=found.labels_path, num_threads=options.num_threads)
    except BirdcamError:
        classifier.close()
        raise
    scene = ScenePass(classifier, detector)
    info = ModelInfo(
        str(resolved.path),
        classifier.name,
        tuple(classifier.labels),
        classifier.background_index,
        float(classifier.threshold),
        TOP_K,
        str(found.path) if found is not None else None,
        note,
    )
    return scene, info


def _percent_reporter(progress: Callable[[str], None], what: str):
    last = [-1]

    def report(done: int, total: int | None) -> None:
        percent = done * 100 // total if total else -1
        if percent != last[0]:
            last[0] = percent
            amount = f"{percent}%" if total else f"{done / 1e6:.1f} MB"
            progress(f"Downloading {what}: {amount}")

    return report


class InferenceProcess:
    """One child process running one scene pass. Not thread-safe: one thread sends frames; close() from any.

    Starting returns at once; `wait_ready()` waits for the models. `process()` blocks the calling
    thread (never the window's: it runs on the inference worker) with the GIL released while the
    child works.
    """

    def __init__(self, options: InferenceOptions = InferenceOptions(), *, factory: SceneFactory = build_scene_pass):
        self.options = options
        self.factory = factory
        """What builds the scene pass in the child (a restart uses it again)."""
        self.info: ModelInfo | None = None
        self._conn, child_conn = _CONTEXT.Pipe(duplex=True)
        self._process = _CONTEXT.Process(
            target=_serve, args=(child_conn, options, factory), name="birdcam inference", daemon=True
        )
        self._process.start()
        child_conn.close()
        self._block: shared_memory.SharedMemory | None = None
        self._copier: ThreadPoolExecutor | None = None
        self._pending_reset = False
        self._closed = False
        self._finish_lock = threading.Lock()  # close() and a crash seen by the sending thread may meet
        self._finished = False

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def model_name(self) -> str:
        """For messages: the model file's name (known before it loads)."""
        if self.info is not None:
            return Path(self.info.model_path).name
        return Path(self.options.model).name if self.options.model else "the default model"

    def wait_ready(
        self, *, cancelled: Callable[[], bool] = lambda: False, progress: Callable[[str], None] | None = None
    ) -> ModelInfo:
        """Waits until the models are loaded; raises ModelError (one line) if they fail, hang, crash or are cancelled.

        Download progress (first run) does not count against the load timeout.
        """
        deadline = time.monotonic() + self.options.load_timeout_s
        while True:
            if cancelled():
                self.kill()
                raise LoadCancelled(f"loading {self.model_name} was cancelled")
            message = self._receive(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            if message is None:
                if time.monotonic() >= deadline:
                    self.kill()
                    raise ModelHung(
                        f"{self.model_name} did not load within {self.options.load_timeout_s:g} s; pick another model"
                    )
                continue
            kind, meta, _ = message
            if kind == "progress":
                deadline = time.monotonic() + self.options.load_timeout_s
                if progress is not None:
                    progress(meta["text"])
            elif kind == "ready":
                self.info = _decode_info(meta)
                return self.info
            elif kind == "failed":
                self.close()
                raise ModelError(meta["message"])

    def process(self, image: np.ndarray, t_capture: float) -> SceneResult:
        """The scene pass on one HxWx3 uint8 BGR frame; ModelCrashed / ModelHung when the child fails it."""
        if self.info is None:
            raise ModelError("the model is not loaded yet")
        image = np.ascontiguousarray(image)
        if image.dtype != np.uint8:
            raise BirdcamError(f"frames must be uint8 pixels, not {image.dtype}")
        self._ensure_block(image.nbytes)
        self._copy_in(image)
        header = {"block": self._block.name, "shape": list(image.shape), "t": t_capture, "reset": self._pending_reset}
        self._pending_reset = False
        self._send("frame", header)
        deadline = time.monotonic() + self.options.frame_timeout_s
        while True:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                self.kill()
                raise ModelHung(
                    f"{self.model_name} took more than {self.options.frame_timeout_s:g} s on one frame; "
                    "its process was stopped"
                )
            kind, meta, payload = message
            if kind == "result":
                return _decode_result(meta, payload, self.info)
            if kind == "error":
                raise ModelError(meta["message"])

    def configure(self, settings: LiveSettings) -> None:
        """Applies new settings from the next frame on."""
        self._send("configure", dataclasses.asdict(settings))

    def reset(self) -> None:
        """Forgets the birds it follows before the next frame (a new source)."""
        self._pending_reset = True

    def close(self, timeout: float = 0.5) -> None:
        """Asks the child to stop, waits up to `timeout`, then kills it; frees the shared memory. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._process.is_alive():
            try:
                self._send("stop", {})
            except ModelError:
                pass
            self._process.join(timeout)
        self._finish()

    def kill(self) -> None:
        """Ends the child at once (it hung, or its load is no longer wanted)."""
        self._closed = True
        self._finish()

    def _finish(self) -> None:
        with self._finish_lock:
            if not self._finished:
                self._end_child()
                self._finished = True

    def _end_child(self) -> None:
        if self._process.is_alive():
            self._process.terminate()  # in Python (a download), the child cleans up its temporary files
            self._process.join(_TERMINATE_GRACE_S)
        if self._process.is_alive():
            self._process.kill()  # stuck in native code
            self._process.join(1.0)
        self._conn.close()
        if self._copier is not None:
            self._copier.shutdown(wait=True)
        self._free_block()

    def __enter__(self) -> InferenceProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _ensure_block(self, nbytes: int) -> None:
        if self._block is not None and self._block.size >= nbytes:
            return
        self._free_block()
        self._block = shared_memory.SharedMemory(create=True, size=max(nbytes, 1))

    def _copy_in(self, image: np.ndarray) -> None:
        """The frame into shared memory. The child waits on this copy, so a big frame is copied in two
        halves at once (720p: 0.21 ms instead of 0.37); a helper that has not started by the time the
        first half is done (its core busy) gives its half back."""
        target = np.ndarray(image.shape, np.uint8, buffer=self._block.buf)
        if image.nbytes < _SPLIT_COPY_BYTES:
            target[...] = image
            return
        if self._copier is None:
            self._copier = ThreadPoolExecutor(1, thread_name_prefix="birdcam frame copy")
        half = image.shape[0] // 2
        second = self._copier.submit(target[half:].__setitem__, Ellipsis, image[half:])
        target[:half] = image[:half]
        if second.cancel():
            target[half:] = image[half:]
        else:
            second.result()

    def _free_block(self) -> None:
        if self._block is not None:
            block, self._block = self._block, None
            block.close()
            try:
                block.unlink()
            except FileNotFoundError:
                pass

    def _send(self, kind: str, meta: dict) -> None:
        try:
            _send(self._conn, kind, meta)
        except (OSError, ValueError):
            raise self._crashed() from None

    def _receive(self, timeout: float) -> tuple[str, dict, bytes] | None:
        """The next message, or None after `timeout` seconds; raises ModelCrashed when the child is gone."""
        try:
            ready = multiprocessing.connection.wait([self._conn, self._process.sentinel], timeout)
        except (OSError, ValueError):  # closed from another thread (the app is closing)
            raise self._crashed() from None
        if self._conn in ready:
            try:
                return _receive(self._conn)
            except (EOFError, OSError):
                pass
        elif not ready:
            return None
        raise self._crashed()

    def _crashed(self) -> ModelCrashed:
        self._process.join(1.0)
        code = self._process.exitcode
        self.kill()
        how = _describe_exit(code)
        return ModelCrashed(f"the process running {self.model_name} {how}")


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"crashed ({name})"
    return f"ended unexpectedly (exit code {code})"


# -- the wire format ---------------------------------------------------------------------------


def _send(conn, kind: str, meta: dict, payload: bytes = b"") -> None:
    conn.send_bytes(json.dumps([kind, meta], separators=(",", ":")).encode("utf-8") + b"\n" + payload)


def _receive(conn) -> tuple[str, dict, bytes]:
    data = conn.recv_bytes()
    head, _, payload = data.partition(b"\n")
    kind, meta = json.loads(head)
    return kind, meta, payload


def _encode_info(info: ModelInfo) -> dict:
    return {
        "model_path": info.model_path,
        "name": info.name,
        "threshold": info.threshold,
        "top_k": info.top_k,
        "background_index": info.background_index,
        "detector_path": info.detector_path,
        "detector_note": info.detector_note,
        "labels": [[label.text, label.common_name, label.scientific_name] for label in info.labels],
    }


def _decode_info(meta: dict) -> ModelInfo:
    labels = tuple(Label(*fields) for fields in meta["labels"])
    return ModelInfo(
        meta["model_path"],
        meta["name"],
        labels,
        meta["background_index"],
        float(meta["threshold"]),
        int(meta["top_k"]),
        meta["detector_path"],
        meta["detector_note"],
    )


def _encode_result(result: SceneResult) -> tuple[dict, bytes]:
    whole = result.whole
    meta = {
        "birds": [
            [b.track, list(b.box), b.index, b.score, [list(pair) for pair in b.top], b.whole_frame, b.closeup]
            for b in result.birds
        ],
        "whole": [whole.index, whole.score, whole.is_bird, [list(pair) for pair in whole.top]],
        "timings": [result.timings.detector_ms, result.timings.classifier_ms, result.timings.total_ms],
    }
    return meta, np.ascontiguousarray(result.probabilities, dtype=np.float32).tobytes()


def _decode_result(meta: dict, payload: bytes, info: ModelInfo) -> SceneResult:
    labels = info.labels

    def label(index: int | None) -> Label | None:
        return labels[index] if index is not None else None

    def pairs(values) -> tuple[tuple[int, float], ...]:
        return tuple((int(i), float(s)) for i, s in values)

    birds = tuple(
        Bird(
            int(track),
            tuple(int(v) for v in box),
            label(index),
            index,
            float(score),
            pairs(top),
            bool(whole),
            bool(closeup),
        )
        for track, box, index, score, top, whole, closeup in meta["birds"]
    )
    index, score, is_bird, top = meta["whole"]
    shown = Shown(index, label(index), float(score), bool(is_bird), pairs(top))
    probabilities = np.frombuffer(payload, dtype=np.float32).copy()
    return SceneResult(birds, shown, probabilities, SceneTimings(*(float(v) for v in meta["timings"])))


# -- the child -----------------------------------------------------------------------------------


def _serve(conn, options: InferenceOptions, factory: SceneFactory) -> None:
    """The child's main: load, say ready (or why not), then answer frames until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the app's to handle, not ours
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds: a download removes its partial file
    try:
        scene, info = factory(options, lambda text: _send(conn, "progress", {"text": text}))
        if options.settings is not None:
            _apply(scene, options.settings)
    except BirdcamError as error:
        _send(conn, "failed", {"message": str(error)})
        return
    except Exception as error:  # a user's file can break a loader in any way: report it, one line
        name = Path(options.model).name if options.model else "the model"
        _send(conn, "failed", {"message": f"cannot load {name} ({first_line(error)}); pick another model"})
        return
    _send(conn, "ready", _encode_info(info))
    blocks: dict[str, shared_memory.SharedMemory] = {}
    try:
        while True:
            try:
                kind, meta, _ = _receive(conn)
            except (EOFError, OSError):
                return  # the app is gone
            if kind == "stop":
                return
            if kind == "configure":
                _apply(scene, LiveSettings.from_dict(meta))
            elif kind == "frame":
                _answer_frame(conn, scene, meta, blocks)
    finally:
        for block in blocks.values():
            block.close()
        scene.close()


def _answer_frame(conn, scene, meta: dict, blocks: dict[str, shared_memory.SharedMemory]) -> None:
    name = meta["block"]
    if name not in blocks:
        for old in blocks.values():
            old.close()
        blocks.clear()
        blocks[name] = shared_memory.SharedMemory(name=name)
    image = np.ndarray(tuple(meta["shape"]), np.uint8, buffer=blocks[name].buf)
    try:
        if meta.get("reset"):
            scene.reset()
        result = scene.process(image, float(meta["t"]))
    except Exception as error:  # one bad frame is a message; the process carries on
        _send(conn, "error", {"message": f"could not classify a frame: {first_line(error)}"})
        return
    finally:
        del image  # no view may outlive the frame: the block can be replaced
    header, payload = _encode_result(result)
    _send(conn, "result", header, payload)


def _apply(scene, settings: LiveSettings) -> None:
    options = scene.options
    smoothing = dataclasses.replace(options.smoothing, enabled=settings.smoothing)
    scene.set_options(dataclasses.replace(options, threshold=settings.threshold, smoothing=smoothing))
    try:
        scene.set_species(settings.allow, settings.deny)
    except BirdcamError:
        pass  # the app checked the lists against these labels before sending them; keep the ones in force


def child_pids() -> list[int]:
    """The inference processes alive now (tests check none is left behind)."""
    return [child.pid for child in _CONTEXT.active_children() if child.name == "birdcam inference"]


__all__ = [
    "InferenceOptions",
    "InferenceProcess",
    "LiveSettings",
    "LoadCancelled",
    "ModelCrashed",
    "ModelHung",
    "ModelInfo",
    "build_scene_pass",
    "child_pids",
]
