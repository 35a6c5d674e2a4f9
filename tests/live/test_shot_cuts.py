"""A result is drawn only over frames of the shot it describes: after a cut, late results of the old shot (old
birds, old boxes) are not shown on the new picture; nothing is, until a result of the new shot arrives."""

from __future__ import annotations

import json

import bird_scenes
import fake_models
from media import write_video

from birdcam.live.headless import HeadlessOptions, run_headless
from birdcam.live.pipeline import Shots
from birdcam.live.sources import Frame

SHOT = 45
"""Frames a shot (1.5 s at 30 fps)."""
SIZE = (320, 240)


def test_shots_tell_a_cut_between_two_frames(shared_dir):
    shots = Shots()
    for index, image in enumerate(bird_scenes.duck_street_duck(shared_dir, SIZE, SHOT)):
        shots.note(Frame(index, image, index / 30))
    assert (
        shots.same_shot(3, 40) and shots.same_shot(SHOT, 2 * SHOT - 1) and shots.same_shot(2 * SHOT + 5, 3 * SHOT - 1)
    )
    assert not shots.same_shot(SHOT - 1, SHOT) and not shots.same_shot(40, 50) and not shots.same_shot(50, 100)
    assert not shots.same_shot(100, 10)


def test_headless_draws_no_late_result_of_the_last_shot_over_the_new_one(shared_dir, tmp_path):
    video = write_video(tmp_path / "cuts.avi", bird_scenes.duck_street_duck(shared_dir, SIZE, SHOT), fps=30, size=SIZE)
    log = tmp_path / "log.jsonl"
    # 0.15 s a frame: results come 4-5 frames after their frame, as on a busy machine.
    run_headless(
        HeadlessOptions(source=str(video), log_path=log, model="fake:seconds=0.15", threshold=0.5, record=False),
        factory=fake_models.fake_scene,
    )
    records = [json.loads(line) for line in log.read_text().splitlines()][:-1]
    assert {r["frame"] // SHOT for r in records} == {0, 1, 2}

    def shot_of(index: int) -> int:
        return index // SHOT

    for record in records:
        if record["result_frame"] is not None:
            assert shot_of(record["result_frame"]) == shot_of(record["frame"]), record
        named = {bird["common_name"] for bird in record["birds"]}
        assert named == (
            {"Mandarin Duck"} if shot_of(record["frame"]) != 1 and record["result_frame"] is not None else set()
        )
    street = [r for r in records if shot_of(r["frame"]) == 1]
    # The old shot's results did come late: the street's first frames went without a result, then got their own.
    assert street[0]["result_frame"] is None and street[-1]["result_frame"] is not None
    back = [r for r in records if shot_of(r["frame"]) == 2]
    assert back[0]["result_frame"] is None and sum(bool(r["birds"]) for r in back) >= SHOT / 2
