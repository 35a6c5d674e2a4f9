"""`birdcam live --headless` on a video built from the shared photos, with the starter model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from birdcam import cli

from gui_helpers import read_image, write_video

FPS = 30
FIELDS = {"frame", "t_capture", "t_shown", "result_frame", "label", "common_name", "scientific_name", "score", "is_bird"}


@pytest.fixture
def duck_cat_duck(shared_dir, tmp_path):
    """1 s Mandarin Duck, 1 s cat, 1 s Mandarin Duck at 30 fps (frames 0-29, 30-59, 60-89)."""
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    cat = read_image(shared_dir / "images" / "not-birds" / "cat.jpg")
    return write_video(tmp_path / "duck-cat-duck.avi", [duck] * FPS + [cat] * FPS + [duck] * FPS, fps=FPS)


def test_headless_log_names_the_bird_in_each_shot(qapp, duck_cat_duck, starter_model, tmp_path):
    log = tmp_path / "live.jsonl"
    code = cli.main(["live", "--headless", "--source", str(duck_cat_duck), "--model", str(starter_model),
                     "--log", str(log)])
    assert code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    records, summary = lines[:-1], lines[-1]

    assert summary["summary"] is True
    assert summary["frames_captured"] == 90
    assert summary["frames_shown"] == len(records) >= 80, "at real-time pace nearly every frame is shown"
    assert all(FIELDS <= record.keys() for record in records)
    assert [r["frame"] for r in records] == sorted({r["frame"] for r in records})
    classified = [r for r in records if r["result_frame"] is not None]
    assert all(r["result_frame"] <= r["frame"] for r in classified)
    assert summary["frames_classified"] >= 30
    assert summary["staleness_frames"]["p95"] is not None

    def shown_for(first: int, last: int) -> list[dict]:
        """Frames whose shown result came from frames first..last (the settled end of a shot)."""
        return [r for r in classified if first <= r["result_frame"] <= last]

    for first, last in ((20, 29), (80, 89)):
        duck_frames = shown_for(first, last)
        assert duck_frames, f"no result came from frames {first}-{last}"
        assert {(r["common_name"], r["scientific_name"], r["is_bird"]) for r in duck_frames} == {
            ("Mandarin Duck", "Aix galericulata", True)}
        assert min(r["score"] for r in duck_frames) > 0.5
    cat_frames = shown_for(50, 59)
    assert cat_frames and not any(r["is_bird"] for r in cat_frames)
    assert {r["common_name"] for r in cat_frames} == {None}


def test_headless_max_frames_and_fast_decoding(qapp, duck_cat_duck, starter_model, tmp_path):
    log = tmp_path / "fast.jsonl"
    code = cli.main(["live", "--headless", "--source", str(duck_cat_duck), "--model", str(starter_model),
                     "--no-realtime", "--max-frames", "5", "--log", str(log)])
    assert code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 6 and lines[-1]["frames_shown"] == 5


@pytest.mark.parametrize("arguments, expected", [
    (["--source", "no/such/video.mp4"], "no such source"),
    (["--source", "{video}", "--model", "{bad_model}"], "bad.tflite"),
    (["--source", "{video}"], "--log"),
])
def test_headless_bad_input_is_one_line_and_exit_2(qapp, duck_video, starter_model, tmp_path, capsys,
                                                     arguments, expected):
    bad_model = tmp_path / "bad.tflite"
    bad_model.write_bytes(b"not a model")
    filled = [a.format(video=duck_video, bad_model=bad_model) for a in arguments]
    if "--model" not in filled:
        filled += ["--model", str(starter_model)]
    if expected != "--log":
        filled += ["--log", str(tmp_path / "out.jsonl")]
    code = cli.main(["live", "--headless", *filled])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("birdcam: error: ") and err.count("\n") == 1 and expected in err
    assert "Traceback" not in err


def test_live_command_runs_as_a_process(duck_video, starter_model, tmp_path):
    """The installed entry point, in its own process: a camera that is not there is exit 2 and one line."""
    result = subprocess.run(
        [sys.executable, "-m", "birdcam", "live", "--headless", "--source", "camera:9", "--model", str(starter_model),
         "--log", str(tmp_path / "cam.jsonl")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("birdcam: error: camera 9") and result.stderr.count("\n") == 1
