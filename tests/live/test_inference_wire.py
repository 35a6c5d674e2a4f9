"""The inference process's messages: every field of what crosses the process boundary survives it, by name."""

from __future__ import annotations

import dataclasses
import multiprocessing

import numpy as np
import pytest

from birdcam.live.inference import wire
from birdcam.live.inference.options import LiveSettings, ModelInfo
from birdcam.models.classifier import Category
from birdcam.models.labels import Label
from birdcam.scene.scene_pass import Bird, SceneResult, SceneTimings
from birdcam.scene.smoothing import Shown

DUCK = Label("Aix galericulata (Mandarin Duck)", "Mandarin Duck", "Aix galericulata")
ROBIN = Label("Turdus migratorius", "", "Turdus migratorius")


def a_result() -> SceneResult:
    """A result whose fields, at every depth, differ from their defaults (so a field lost on the way shows)."""
    named = Bird(
        track=7,
        box=(12, 34, 56, 78),
        label=DUCK,
        index=166,
        score=0.875,
        top=(Category(166, DUCK, 0.875), Category(3, ROBIN, 0.0625)),
        whole_frame=True,
        closeup=True,
    )
    unknown = Bird(track=9, box=(0, 1, 2, 3), label=None, index=None, score=0.4375, top=(Category(2, ROBIN, 0.25),))
    whole = Shown(
        index=166, label=DUCK, score=0.75, is_bird=True, top=(Category(166, DUCK, 0.75), Category(3, ROBIN, 0.125))
    )
    probabilities = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625], np.float32)
    return SceneResult((named, unknown), whole, probabilities, SceneTimings(30.25, 4.5, 36.125))


def through_a_pipe(kind: str, fields: wire.Fields, payload: bytes = b"") -> tuple[str, wire.Fields, bytes]:
    """The message as the other process reads it: the same bytes through a real pipe."""
    reading, writing = multiprocessing.Pipe(duplex=False)
    try:
        wire.send(writing, kind, fields, payload)
        return wire.receive(reading)
    finally:
        reading.close()
        writing.close()


def field_names(value) -> set[str]:
    return {field.name for field in dataclasses.fields(value)}


def assert_every_field_named(value, encoded: wire.Fields, in_payload: frozenset[str] = frozenset()) -> None:
    """The encoding names each field of the dataclass, no more, no fewer (a field added on one side only fails)."""
    assert set(encoded) | in_payload == field_names(value), f"{type(value).__name__}: the codec and the fields differ"


def test_a_scene_result_survives_the_trip_field_by_field():
    result = a_result()
    fields, payload = wire.encode_result(result)
    kind, received, received_payload = through_a_pipe("result", fields, payload)
    back = wire.decode_result(received, received_payload)

    assert kind == "result"
    assert back.birds == result.birds and back.whole == result.whole and back.timings == result.timings
    assert back.probabilities.dtype == np.float32
    np.testing.assert_array_equal(back.probabilities, result.probabilities)
    assert all(type(bird.box[0]) is int and type(bird.score) is float for bird in back.birds)

    assert_every_field_named(result, fields, frozenset({wire.PAYLOAD_FIELD}))
    for bird, encoded in zip(result.birds, fields["birds"]):
        assert_every_field_named(bird, encoded)
        if bird.label is not None:
            assert_every_field_named(bird.label, encoded["label"])
        for category, encoded_category in zip(bird.top, encoded["top"]):
            assert_every_field_named(category, encoded_category)
            assert_every_field_named(category.label, encoded_category["label"])
    assert_every_field_named(result.whole, fields["whole"])
    assert_every_field_named(result.timings, fields["timings"])


def test_the_sample_sets_every_field_away_from_its_default():
    """Else a field the codec drops could come back as its default and still compare equal."""
    named = a_result().birds[0]
    for field in dataclasses.fields(Bird):
        if field.default is not dataclasses.MISSING:
            assert getattr(named, field.name) != field.default, field.name


def test_a_field_the_codec_does_not_know_fails_the_check():
    """As if a field were added to Bird and not to the codec."""
    Extended = dataclasses.make_dataclass("Bird", [("colour", str, "red")], bases=(Bird,), frozen=True)
    bird = Extended(**{name: getattr(a_result().birds[0], name) for name in field_names(Bird)}, colour="blue")
    with pytest.raises(AssertionError, match="the codec and the fields differ"):
        assert_every_field_named(bird, wire.encode_bird(bird))


def test_model_info_and_settings_survive_the_trip():
    info = ModelInfo(
        model_path="/models/birds.tflite",
        name="birds",
        labels=(DUCK, ROBIN, Label("background", "", "")),
        background_index=2,
        threshold=0.45,
        top_k=7,
        detector_path="/models/yolox.tflite",
        detector_note="a note",
    )
    _, fields, _ = through_a_pipe("ready", wire.encode_info(info))
    assert wire.decode_info(fields) == info
    assert_every_field_named(info, fields)

    for settings in (
        LiveSettings(
            threshold=0.6, smoothing=False, allow=("Aix galericulata", "Robin"), deny=("Turdus",), still_camera=True
        ),
        LiveSettings(),
    ):
        _, fields, _ = through_a_pipe("configure", wire.encode_settings(settings))
        assert wire.decode_settings(fields) == settings
        assert_every_field_named(settings, fields)
