"""The app's handle on one inference process: start it, wait for its models, send it frames, end it.

As Frigate runs its detectors: the child process loads the models and runs the scene pass; frames
reach it through shared memory, results come back through a pipe (birdcam/live/inference/wire.py).
The app's process never calls into LiteRT, so a model that hangs, holds the GIL for seconds or
crashes (segfault) costs a message, never a frozen window. One frame is in flight at a time and the
caller always sends the newest, so nothing queues.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from birdcam.errors import BirdcamError, DetectorError, ModelError
from birdcam.live.inference import wire
from birdcam.live.inference.child import serve
from birdcam.live.inference.factory import build_scene_pass
from birdcam.live.inference.options import InferenceOptions, LiveSettings, ModelInfo, SceneFactory
from birdcam.scene.scene_pass import SceneResult

_CONTEXT = multiprocessing.get_context("spawn")  # the same on Linux, macOS and Windows; no forked threads
_PROCESS_NAME = "birdcam inference"
_POLL_S = 0.05  # how often a wait looks at its cancel flag
_TERMINATE_GRACE_S = 0.2  # how long a child asked to end may take before it is killed
_SPLIT_COPY_BYTES = 1 << 20  # frames this big are copied into shared memory by two threads


class ModelCrashed(ModelError):
    """The inference process died (a crash in native code, killed by the system)."""


class ModelHung(ModelError):
    """The inference process did not answer in time and was killed."""


class LoadCancelled(ModelError):
    """A newer request or closing the app made this load pointless; its process was killed."""


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
            target=serve, args=(child_conn, options, factory), name=_PROCESS_NAME, daemon=True
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
        """Waits until the models are loaded; raises ModelError (one line) if they fail, hang, crash or are cancelled,
        DetectorError when the detector is what failed.

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
            kind, fields, _ = message
            if kind == "progress":
                deadline = time.monotonic() + self.options.load_timeout_s
                if progress is not None:
                    progress(fields["text"])
            elif kind == "ready":
                self.info = wire.decode_info(fields)
                return self.info
            elif kind == "failed":
                self.close()
                raise (DetectorError if fields["detector"] else ModelError)(fields["message"])

    def process(self, image: np.ndarray, t_capture: float) -> SceneResult:
        """The scene pass on one HxWx3 uint8 BGR frame; ModelCrashed / ModelHung when the child fails it."""
        if self.info is None:
            raise ModelError("the model is not loaded yet")
        image = np.ascontiguousarray(image)
        if image.dtype != np.uint8:
            raise BirdcamError(f"frames must be uint8 pixels, not {image.dtype}")
        block = self._ensure_block(image.nbytes)
        self._copy_in(block, image)
        header = {"block": block.name, "shape": list(image.shape), "t": t_capture, "reset": self._pending_reset}
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
            kind, fields, payload = message
            if kind == "result":
                return wire.decode_result(fields, payload)
            if kind == "error":
                raise ModelError(fields["message"])

    def configure(self, settings: LiveSettings) -> None:
        """Applies new settings from the next frame on."""
        self._send("configure", wire.encode_settings(settings))

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

    def _ensure_block(self, nbytes: int) -> shared_memory.SharedMemory:
        """The shared memory block frames go through, made (again) when it is too small for this one."""
        if self._block is not None and self._block.size >= nbytes:
            return self._block
        self._free_block()
        while True:
            try:
                name = f"{block_prefix()}{secrets.token_hex(4)}"
                block = shared_memory.SharedMemory(name=name, create=True, size=max(nbytes, 1))
            except FileExistsError:
                continue  # a name drawn twice: draw another
            self._block = block
            return block

    def _copy_in(self, block: shared_memory.SharedMemory, image: np.ndarray) -> None:
        """The frame into shared memory. The child waits on this copy, so a big frame is copied in two
        halves at once, nearly halving the wait; a helper that has not started by the time the first half
        is done (its core busy) gives its half back."""
        target = np.ndarray(image.shape, np.uint8, buffer=block.buf)
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

    def _send(self, kind: str, fields: wire.Fields) -> None:
        try:
            wire.send(self._conn, kind, fields)
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
                return wire.receive(self._conn)
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


def block_prefix() -> str:
    """How the names of the shared memory blocks this process's InferenceProcesses create begin: whose a block is
    (in /dev/shm on Linux), and what a test checks was freed."""
    return f"birdcam-{os.getpid()}-"


def child_pids() -> list[int]:
    """The inference processes alive now (tests check none is left behind)."""
    return [child.pid for child in _CONTEXT.active_children() if child.pid is not None and child.name == _PROCESS_NAME]
