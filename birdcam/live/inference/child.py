"""The inference process's side: load the models, then answer frames until told to stop or orphaned."""

from __future__ import annotations

import dataclasses
import signal
import sys
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from birdcam.errors import BirdcamError, DetectorError, first_line
from birdcam.live.inference import wire
from birdcam.live.inference.options import InferenceOptions, LiveSettings, SceneFactory


def serve(conn: Connection, options: InferenceOptions, factory: SceneFactory) -> None:
    """The child's main: load, say ready (or why not), then answer frames until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the app's to handle, not ours
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds: a download removes its partial file
    try:
        scene, info = factory(options, lambda text: wire.send(conn, "progress", {"text": text}))
        if options.settings is not None:
            apply_settings(scene, options.settings)
    except BirdcamError as error:
        wire.send(conn, "failed", {"message": str(error), "detector": isinstance(error, DetectorError)})
        return
    except Exception as error:  # a user's file can break a loader in any way: report it, one line
        name = Path(options.model).name if options.model else "the model"
        message = f"cannot load {name} ({first_line(error)}); pick another model"
        wire.send(conn, "failed", {"message": message, "detector": False})
        return
    wire.send(conn, "ready", wire.encode_info(info))
    blocks: dict[str, shared_memory.SharedMemory] = {}
    try:
        while True:
            try:
                kind, fields, _ = wire.receive(conn)
            except (EOFError, OSError):
                return  # the app is gone
            if kind == "stop":
                return
            if kind == "configure":
                apply_settings(scene, wire.decode_settings(fields))
            elif kind == "frame":
                _answer_frame(conn, scene, fields, blocks)
    finally:
        for block in blocks.values():
            block.close()
        scene.close()


def _answer_frame(conn: Connection, scene: Any, fields: wire.Fields, blocks: dict[str, shared_memory.SharedMemory]):
    """The scene pass on the frame in the named shared memory block; a frame that fails is one message."""
    name = fields["block"]
    if name not in blocks:
        for old in blocks.values():
            old.close()
        blocks.clear()
        blocks[name] = shared_memory.SharedMemory(name=name)
    image = np.ndarray(tuple(fields["shape"]), np.uint8, buffer=blocks[name].buf)
    try:
        if fields["reset"]:
            scene.reset()
        result = scene.process(image, float(fields["t"]))
    except Exception as error:  # one bad frame is a message; the process carries on
        wire.send(conn, "error", {"message": f"could not classify a frame: {first_line(error)}"})
        return
    finally:
        del image  # no view may outlive the frame: the block can be replaced
    header, payload = wire.encode_result(result)
    wire.send(conn, "result", header, payload)


def apply_settings(scene: Any, settings: LiveSettings) -> None:
    """Threshold, smoothing, the still camera's motion search and species lists onto a running scene pass."""
    options = scene.options
    smoothing = dataclasses.replace(options.smoothing, enabled=settings.smoothing)
    scene.set_options(
        dataclasses.replace(
            options, threshold=settings.threshold, smoothing=smoothing, motion_search=settings.still_camera
        )
    )
    try:
        scene.set_species(settings.allow, settings.deny)
    except BirdcamError:
        pass  # the app checked the lists against these labels before sending them; keep the ones in force
