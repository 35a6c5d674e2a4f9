"""The summary chart as a picture: what a person reads in it."""

from __future__ import annotations

import datetime

import numpy as np

from birdcam.gui.overlay import qimage_to_bgr
from birdcam.sightings.summary import summarize
from birdcam.sightings.visit import Visit

_INK = 200  # a pixel darker than this in every channel is text or a cell (the background is white)


def ink_bands(mask: np.ndarray, axis: int, gap: int = 1) -> list[tuple[int, int]]:
    """(first, last) of the runs of lines along `axis` that hold ink, runs closer than `gap` joined."""
    lines = np.flatnonzero(mask.any(axis=axis))
    bands: list[list[int]] = []
    for line in lines:
        if bands and line - bands[-1][1] <= gap:
            bands[-1][1] = int(line)
        else:
            bands.append([int(line), int(line)])
    return [(first, last) for first, last in bands]


def test_the_day_labels_of_two_weeks_stand_apart(qapp):
    """The dates of neighbouring days ran together ("Nov 21Nov 22")."""
    from birdcam.gui.summary_chart import render_chart

    now = datetime.datetime.now().timestamp()
    visits = [
        Visit(
            None, now - 86_400 * d, now - 86_400 * d + 5, "Mandarin Duck", "Aix galericulata", 0.9, "", "", uid=f"{d}"
        )
        for d in range(0, 14, 2)
    ]
    image = qimage_to_bgr(render_chart(summarize(visits, days=14)))
    ink = (image < _INK).all(axis=2)
    title, weekdays, dates, *_ = ink_bands(ink, axis=1)
    for first, last in (weekdays, dates):
        labels = ink_bands(ink[first : last + 1], axis=0, gap=9)  # the space in "Dec 1" is narrower
        assert len(labels) == 14, f"{len(labels)} labels told apart in rows {first}-{last}"
