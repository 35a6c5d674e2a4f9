"""The tracker on hand-made box sequences: ids, confirmation, misses, crossings, deletion, low scores."""

from __future__ import annotations

import pytest

from birdcam.errors import OptionsError
from birdcam.models.boxes import iou
from birdcam.scene.tracker import Tracker, TrackerOptions

FPS = 30.0


def moving(x0: float, y0: float, vx: float, vy: float, n: int, size: float = 60.0) -> tuple[float, float, float, float]:
    """The box of a bird moving vx, vy pixels per frame, at frame n."""
    return (x0 + vx * n, y0 + vy * n, size, size)


def test_a_box_seen_once_is_never_confirmed_and_goes_away():
    tracker = Tracker(TrackerOptions(confirm_hits=3))
    tracker.update([(100, 100, 50, 50)], [0.9], 0.0)
    assert len(tracker.tracks) == 1 and not tracker.tracks[0].confirmed
    for n in range(1, 40):
        tracker.update([], [], n / FPS)
    assert tracker.tracks == ()
    assert tracker.confirmed == ()


def test_confirmed_after_three_hits_and_id_kept_through_missed_frames():
    tracker = Tracker()
    ids = set()
    for n in range(30):
        box = moving(100, 200, 6, 1, n)
        detections = [] if n in (10, 11, 12, 20) else [box]
        tracks = tracker.update(detections, [0.8] * len(detections), n / FPS)
        assert len(tracks) == 1
        ids.add(tracks[0].id)
        if n == 1:
            assert not tracks[0].confirmed
        if n == 2:
            assert tracks[0].confirmed
    assert len(ids) == 1
    track = tracker.tracks[0]
    # The constant-velocity model learned the motion: 6 px a frame is 180 px a second.
    assert track.velocity[0] == pytest.approx(180, rel=0.1)
    assert iou(track.predicted(30 / FPS), moving(100, 200, 6, 1, 30)) > 0.8


def test_two_crossing_birds_keep_their_ids():
    tracker = Tracker()
    first_ids = None
    for n in range(40):
        left_to_right = moving(0, 100, 20, 0, n)
        right_to_left = moving(780, 115, -20, 0, n)
        tracks = tracker.update([left_to_right, right_to_left], [0.9, 0.85], n / FPS)
        by_direction = {("right" if t.velocity[0] > 0 else "left"): t.id for t in tracks if t.hits > 1}
        if n == 5:
            first_ids = by_direction
            assert set(first_ids) == {"right", "left"}
        if n > 5:
            assert by_direction == first_ids, f"ids swapped at frame {n}"
    # They crossed: the one moving right is now on the right.
    right = next(t for t in tracker.tracks if t.id == first_ids["right"])
    left = next(t for t in tracker.tracks if t.id == first_ids["left"])
    assert right.box[0] > left.box[0]


def test_a_lost_bird_is_deleted_after_lost_after_s_and_a_new_one_gets_a_new_id():
    options = TrackerOptions(lost_after_s=0.5)
    tracker = Tracker(options)
    for n in range(10):
        tracker.update([(300, 300, 80, 80)], [0.9], n / FPS)
    (track,) = tracker.tracks
    gone_at = None
    for n in range(10, 60):
        if not tracker.update([], [], n / FPS):
            gone_at = n
            break
    assert gone_at is not None
    assert (gone_at - 9) / FPS == pytest.approx(0.5, abs=2 / FPS)
    tracker.update([(300, 300, 80, 80)], [0.9], 61 / FPS)
    assert tracker.tracks[0].id != track.id


def test_low_scores_keep_a_track_but_never_start_one():
    options = TrackerOptions(start_score=0.5, keep_score=0.1)
    tracker = Tracker(options)
    for n in range(5):
        tracker.update([(50, 50, 40, 40)], [0.2], n / FPS)
    assert tracker.tracks == ()
    for n in range(5, 10):
        tracker.update([(50, 50, 40, 40)], [0.8], n / FPS)
    (track,) = tracker.tracks
    # Half hidden now: the detector is unsure, the track goes on.
    for n in range(10, 60):
        tracker.update([(50 + n, 50, 40, 40)], [0.15], n / FPS)
    assert [t.id for t in tracker.tracks] == [track.id]
    assert tracker.tracks[0].misses == 0
    # Below keep_score a box is ignored.
    for n in range(60, 120):
        tracker.update([(110, 50, 40, 40)], [0.05], n / FPS)
    assert tracker.tracks == ()


def test_a_track_outside_the_searched_region_is_not_missed():
    tracker = Tracker(TrackerOptions(lost_after_s=0.3))
    for n in range(5):
        tracker.update([(1000, 500, 100, 100)], [0.9], n / FPS)
    (track,) = tracker.tracks
    # The detector looks at the top-left tile only for a second: the bird there was not looked for.
    for n in range(5, 35):
        tracker.update([], [], n / FPS, looked=[(0, 0, 448, 448)])
    assert tracker.tracks[0].id == track.id and tracker.tracks[0].misses == 0
    # Now its own neighbourhood is searched and it is not there.
    for n in range(35, 60):
        tracker.update([], [], n / FPS, looked=[(900, 400, 300, 300)])
    assert tracker.tracks == ()


def test_follow_moves_and_keeps_a_track_but_only_the_detector_confirms():
    tracker = Tracker(TrackerOptions(confirm_hits=3, lost_after_s=0.5))
    tracker.update([(100, 100, 50, 50)], [0.9], 0.0)
    (track,) = tracker.tracks
    for n in range(1, 6):
        tracker.update([], [], n / FPS, looked=[])
        tracker.follow(track.id, (100 + 4 * n, 100, 50, 50), n / FPS)
    assert not tracker.tracks[0].confirmed and tracker.tracks[0].box[0] > 110
    for n in range(6, 8):
        tracker.update([(100 + 4 * n, 100, 50, 50)], [0.9], n / FPS)
    assert tracker.tracks[0].confirmed and tracker.tracks[0].id == track.id
    # Followed by its look alone, a track the detector keeps missing is dropped after lost_after_s.
    for n in range(8, 60):
        tracker.update([], [], n / FPS)
        tracker.follow(track.id, (132, 100, 50, 50), n / FPS)
    assert tracker.tracks == ()


def test_a_second_box_on_a_followed_bird_starts_no_track():
    tracker = Tracker()
    for n in range(5):
        tracker.update([(200, 200, 100, 100)], [0.9], n / FPS)
    # A tile cut the bird: a smaller box inside the followed one, plus the usual one.
    tracker.update([(200, 200, 100, 100), (210, 210, 50, 60)], [0.9, 0.6], 5 / FPS)
    assert len(tracker.tracks) == 1


def test_options_out_of_range_are_refused_in_one_line():
    with pytest.raises(OptionsError, match=r"^TrackerOptions.keep_score must be between 0 and start_score, not 0.4$"):
        TrackerOptions(start_score=0.2, keep_score=0.4)
    with pytest.raises(OptionsError, match=r"^TrackerOptions.confirm_hits must be at least 1, not 0$"):
        TrackerOptions(confirm_hits=0)
    with pytest.raises(OptionsError, match="box_gain must be between 0 and 1, not nan"):
        TrackerOptions(box_gain=float("nan"))
