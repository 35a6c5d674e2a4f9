"""What the app tells the inference process is checked when it is made, in one line naming the field."""

from __future__ import annotations

import pytest

from birdcam.errors import OptionsError
from birdcam.live.inference import InferenceOptions, LiveSettings


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: LiveSettings(threshold=1.2), "LiveSettings.threshold must be between 0 and 1, not 1.2"),
        (lambda: InferenceOptions(num_threads=0), "InferenceOptions.num_threads must be at least 1, not 0"),
        (
            lambda: InferenceOptions(frame_timeout_s=0.0),
            "InferenceOptions.frame_timeout_s must be more than 0, not 0.0",
        ),
    ],
)
def test_a_value_out_of_range_is_one_line(make, message):
    with pytest.raises(OptionsError) as error:
        make()
    assert str(error.value) == message


def test_the_defaults_and_no_threshold_are_taken():
    assert LiveSettings().threshold is None and LiveSettings(threshold=0.0).threshold == 0.0
    assert InferenceOptions().num_threads >= 1
