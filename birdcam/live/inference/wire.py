"""The bytes between the app and the inference process, and what they stand for.

A message is one JSON header line `[kind, fields]`, then an optional binary payload (a frame's
probabilities). Every value travels as an object with named fields, so a field added on one side
and not the other is a KeyError in the tests, never a value silently read as another. Nothing
read from the child is unpickled.
"""

from __future__ import annotations

import json
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from birdcam.live.inference.options import LiveSettings, ModelInfo
from birdcam.models.classifier import Category
from birdcam.models.labels import Label
from birdcam.scene.scene_pass import Bird, SceneResult, SceneTimings
from birdcam.scene.smoothing import Shown

Fields = dict[str, Any]
"""One value in its JSON form: field name -> JSON value."""
PAYLOAD_FIELD = "probabilities"
"""The one field of SceneResult that travels as the binary payload rather than in the header."""


def send(conn: Connection, kind: str, fields: Fields, payload: bytes = b"") -> None:
    conn.send_bytes(json.dumps([kind, fields], separators=(",", ":")).encode("utf-8") + b"\n" + payload)


def receive(conn: Connection) -> tuple[str, Fields, bytes]:
    data = conn.recv_bytes()
    head, _, payload = data.partition(b"\n")
    kind, fields = json.loads(head)
    return kind, fields, payload


# -- values --------------------------------------------------------------------------------------


def encode_label(label: Label) -> Fields:
    return {"text": label.text, "common_name": label.common_name, "scientific_name": label.scientific_name}


def decode_label(fields: Fields) -> Label:
    return Label(text=fields["text"], common_name=fields["common_name"], scientific_name=fields["scientific_name"])


def encode_settings(settings: LiveSettings) -> Fields:
    return {
        "threshold": settings.threshold,
        "smoothing": settings.smoothing,
        "allow": list(settings.allow) if settings.allow is not None else None,
        "deny": list(settings.deny),
        "still_camera": settings.still_camera,
    }


def decode_settings(fields: Fields) -> LiveSettings:
    allow = fields["allow"]
    return LiveSettings(
        threshold=fields["threshold"],
        smoothing=bool(fields["smoothing"]),
        allow=tuple(allow) if allow is not None else None,
        deny=tuple(fields["deny"]),
        still_camera=bool(fields["still_camera"]),
    )


def encode_info(info: ModelInfo) -> Fields:
    return {
        "model_path": info.model_path,
        "name": info.name,
        "labels": [encode_label(label) for label in info.labels],
        "background_index": info.background_index,
        "threshold": info.threshold,
        "top_k": info.top_k,
        "detector_path": info.detector_path,
        "detector_note": info.detector_note,
    }


def decode_info(fields: Fields) -> ModelInfo:
    return ModelInfo(
        model_path=fields["model_path"],
        name=fields["name"],
        labels=tuple(decode_label(label) for label in fields["labels"]),
        background_index=fields["background_index"],
        threshold=float(fields["threshold"]),
        top_k=int(fields["top_k"]),
        detector_path=fields["detector_path"],
        detector_note=fields["detector_note"],
    )


def encode_category(category: Category) -> Fields:
    return {"index": category.index, "label": encode_label(category.label), "score": category.score}


def decode_category(fields: Fields) -> Category:
    return Category(index=int(fields["index"]), label=decode_label(fields["label"]), score=float(fields["score"]))


def encode_bird(bird: Bird) -> Fields:
    return {
        "track": bird.track,
        "box": list(bird.box),
        "label": encode_label(bird.label) if bird.label is not None else None,
        "index": bird.index,
        "score": bird.score,
        "top": [encode_category(category) for category in bird.top],
        "whole_frame": bird.whole_frame,
        "closeup": bird.closeup,
    }


def decode_bird(fields: Fields) -> Bird:
    x, y, w, h = (int(v) for v in fields["box"])
    return Bird(
        track=int(fields["track"]),
        box=(x, y, w, h),
        label=decode_label(fields["label"]) if fields["label"] is not None else None,
        index=fields["index"],
        score=float(fields["score"]),
        top=tuple(decode_category(category) for category in fields["top"]),
        whole_frame=bool(fields["whole_frame"]),
        closeup=bool(fields["closeup"]),
    )


def encode_shown(shown: Shown) -> Fields:
    return {
        "index": shown.index,
        "label": encode_label(shown.label) if shown.label is not None else None,
        "score": shown.score,
        "is_bird": shown.is_bird,
        "top": [encode_category(category) for category in shown.top],
    }


def decode_shown(fields: Fields) -> Shown:
    return Shown(
        index=fields["index"],
        label=decode_label(fields["label"]) if fields["label"] is not None else None,
        score=float(fields["score"]),
        is_bird=bool(fields["is_bird"]),
        top=tuple(decode_category(category) for category in fields["top"]),
    )


def encode_timings(timings: SceneTimings) -> Fields:
    return {"detector_ms": timings.detector_ms, "classifier_ms": timings.classifier_ms, "total_ms": timings.total_ms}


def decode_timings(fields: Fields) -> SceneTimings:
    return SceneTimings(
        detector_ms=float(fields["detector_ms"]),
        classifier_ms=float(fields["classifier_ms"]),
        total_ms=float(fields["total_ms"]),
    )


def encode_result(result: SceneResult) -> tuple[Fields, bytes]:
    """The header fields and the payload (the probabilities as float32 bytes)."""
    fields = {
        "birds": [encode_bird(bird) for bird in result.birds],
        "whole": encode_shown(result.whole),
        "timings": encode_timings(result.timings),
    }
    return fields, np.ascontiguousarray(result.probabilities, dtype=np.float32).tobytes()


def decode_result(fields: Fields, payload: bytes) -> SceneResult:
    return SceneResult(
        birds=tuple(decode_bird(bird) for bird in fields["birds"]),
        whole=decode_shown(fields["whole"]),
        probabilities=np.frombuffer(payload, dtype=np.float32).copy(),
        timings=decode_timings(fields["timings"]),
    )
