"""The scene's options refuse values out of range when they are made, in one line naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from birdcam.errors import OptionsError
from birdcam.scene.options import SceneOptions


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("threshold", 1.5, "SceneOptions.threshold must be between 0 and 1, not 1.5"),
        ("tile_sizes", (448, 0), "SceneOptions.tile_sizes must be whole pixels, 1 or more, not (448, 0)"),
        ("crop_margin", 0.0, "SceneOptions.crop_margin must be more than 0, not 0.0"),
        ("refresh_s", -0.1, "SceneOptions.refresh_s must be at least 0, not -0.1"),
        ("closeup_fraction", float("nan"), "SceneOptions.closeup_fraction must be between 0 and 1, not nan"),
        ("hide_after_misses", 0, "SceneOptions.hide_after_misses must be at least 1, not 0"),
        ("detector_every", 0, "SceneOptions.detector_every must be at least 1, not 0"),
    ],
)
def test_a_value_out_of_range_is_one_line(field, value, message):
    with pytest.raises(OptionsError) as error:
        SceneOptions(**{field: value})
    assert str(error.value) == message
    with pytest.raises(OptionsError):
        dataclasses.replace(SceneOptions(), **{field: value})  # a changed copy is checked too


def test_the_defaults_and_the_edges_of_each_range_are_taken():
    SceneOptions()
    SceneOptions(
        threshold=0.0, crops_per_frame=0, detector_interval_s=0.0, tile_sizes=(), follow_likeness=-1.0, detector_every=1
    )
    SceneOptions(threshold=1.0, closeup_fraction=1.0, other_object_cover=1.0)
