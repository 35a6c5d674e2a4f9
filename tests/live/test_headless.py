"""`birdcam live --headless` on a video built from the shared photos, with the starter model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from media import read_image, write_video

from birdcam import cli

FPS = 30
FIELDS = {
    "frame",
    "t_capture",
    "t_shown",
    "result_frame",
    "label",
    "common_name",
    "scientific_name",
    "score",
    "is_bird",
    "birds",
}


@pytest.fixture
def duck_cat_duck(shared_dir, tmp_path):
    """1 s Mandarin Duck, 1 s cat, 1 s Mandarin Duck at 30 fps (frames 0-29, 30-59, 60-89)."""
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    cat = read_image(shared_dir / "images" / "not-birds" / "cat.jpg")
    return write_video(tmp_path / "duck-cat-duck.avi", [duck] * FPS + [cat] * FPS + [duck] * FPS, fps=FPS)


def test_headless_log_names_the_bird_in_each_shot(duck_cat_duck, starter_model, tmp_path):
    log = tmp_path / "live.jsonl"
    code = cli.main(
        ["live", "--headless", "--source", str(duck_cat_duck), "--model", str(starter_model), "--log", str(log)]
    )
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
            ("Mandarin Duck", "Aix galericulata", True)
        }
        assert min(r["score"] for r in duck_frames) > 0.5
        for record in duck_frames:
            (bird,) = record["birds"]
            assert (bird["common_name"], bird["scientific_name"], bird["score"]) == (
                record["common_name"],
                record["scientific_name"],
                record["score"],
            )
            assert isinstance(bird["track"], int) and len(bird["box"]) == 4
    cat_frames = shown_for(50, 59)
    assert cat_frames and not any(r["is_bird"] for r in cat_frames)
    assert {r["common_name"] for r in cat_frames} == {None}
    assert all(r["birds"] == [] for r in cat_frames)


def test_headless_max_frames_and_fast_decoding(duck_cat_duck, starter_model, tmp_path):
    log = tmp_path / "fast.jsonl"
    code = cli.main(
        [
            "live",
            "--headless",
            "--source",
            str(duck_cat_duck),
            "--model",
            str(starter_model),
            "--no-realtime",
            "--max-frames",
            "5",
            "--log",
            str(log),
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 6 and lines[-1]["frames_shown"] == 5


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["--source", "no/such/video.mp4"], "no such source"),
        (["--source", "{video}", "--model", "{bad_model}"], "bad.tflite"),
        (["--source", "{video}"], "--log"),
    ],
)
def test_headless_bad_input_is_one_line_and_exit_2(duck_video, starter_model, tmp_path, capsys, arguments, expected):
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
        [
            sys.executable,
            "-m",
            "birdcam",
            "live",
            "--headless",
            "--source",
            "camera:9",
            "--model",
            str(starter_model),
            "--log",
            str(tmp_path / "cam.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("birdcam: error: camera 9") and result.stderr.count("\n") == 1


def test_a_photo_read_as_fast_as_it_decodes_is_still_named(shared_dir, starter_model, tmp_path):
    """All of a photo's frames arrive at once and the source ends: the last one is classified before the run ends."""
    log = tmp_path / "photo.jsonl"
    code = cli.main(
        [
            "live",
            "--headless",
            "--no-realtime",
            "--source",
            str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"),
            "--model",
            str(starter_model),
            "--log",
            str(log),
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    summary, last = lines[-1], lines[-2]
    assert summary["frames_classified"] >= 1
    assert last["common_name"] == "Mandarin Duck" and last["result_frame"] == last["frame"]


def test_sigterm_ends_the_run_with_its_summary(duck_video, starter_model, tmp_path):
    import signal
    import time

    log = tmp_path / "term.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "birdcam",
            "live",
            "--headless",
            "--loop",
            "--source",
            str(duck_video),
            "--model",
            str(starter_model),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not log.exists() or log.read_text().count("\n") < 40):
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    summary = json.loads(log.read_text().splitlines()[-1])
    assert summary["summary"] is True and summary["stopped_by"] == "SIGTERM"
    assert summary["frames_shown"] >= 40 and "shown" in out
    from birdcam.sightings import SightingsDB, default_path

    with SightingsDB.open(default_path(), read_only=True) as db:
        visits = db.visits()
    assert [v.common_name for v in visits] == ["Mandarin Duck"], "the visit in progress was written before the end"
    assert visits[0].end - visits[0].start >= 1.0


@pytest.mark.parametrize("log_name", ["folder", "file_as_parent"])
def test_a_log_that_cannot_be_written_is_one_line(duck_video, starter_model, tmp_path, capsys, log_name):
    folder = tmp_path / "logs"
    folder.mkdir()
    (tmp_path / "notes.txt").write_text("a file")
    log = folder if log_name == "folder" else tmp_path / "notes.txt" / "live.jsonl"
    code = cli.main(
        ["live", "--headless", "--source", str(duck_video), "--model", str(starter_model), "--log", str(log)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(log) in err and "Traceback" not in err


def test_headless_runs_without_qt(duck_video, starter_model, tmp_path):
    script = (
        "import sys; from pathlib import Path; from birdcam.live.headless import HeadlessOptions, run_headless\n"
        f"run_headless(HeadlessOptions(source={str(duck_video)!r}, log_path=Path({str(tmp_path / 'q.jsonl')!r}), "
        f"model={str(starter_model)!r}, max_frames=10))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'tensorflow'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_headless_logger_records_visits_like_the_window(shared_dir, starter_model, tmp_path):
    """The unattended logger: the same visit rules, database and snapshots as the window."""
    from birdcam.sightings import SightingsDB, default_path

    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    cat = read_image(shared_dir / "images" / "not-birds" / "cat.jpg")
    video = write_video(tmp_path / "visits.avi", [duck] * 45 + [cat] * 15 + [duck] * 45, fps=FPS)
    code = cli.main(
        [
            "live",
            "--headless",
            "--source",
            str(video),
            "--model",
            str(starter_model),
            "--log",
            str(tmp_path / "log.jsonl"),
        ]
    )
    assert code == 0
    with SightingsDB.open(default_path(), read_only=True) as db:
        visits = db.visits()
    assert [(v.common_name, v.scientific_name, v.count) for v in visits] == [("Mandarin Duck", "Aix galericulata", 1)]
    visit = visits[0]
    assert 2.5 <= visit.end - visit.start <= 3.6, "two duck shots half a second apart are one visit"
    assert str(video.resolve()) == visit.source and visit.model == starter_model.stem
    for picture in (visit.snapshot_path, visit.crop_path):
        assert picture and read_image(Path(picture)).size > 0


def test_no_sightings_records_nothing(duck_video, starter_model, tmp_path):
    from birdcam.sightings import default_path

    code = cli.main(
        [
            "live",
            "--headless",
            "--no-sightings",
            "--source",
            str(duck_video),
            "--model",
            str(starter_model),
            "--log",
            str(tmp_path / "log.jsonl"),
        ]
    )
    assert code == 0 and not default_path().exists()


def test_species_lists_mask_the_headless_run(duck_video, starter_model, tmp_path, capsys):
    deny = tmp_path / "deny.txt"
    deny.write_text("# keeps being wrong here\nMandarin Duck\nDodo bird  # not a species this model knows\n")
    log = tmp_path / "log.jsonl"
    code = cli.main(
        [
            "live",
            "--headless",
            "--no-sightings",
            "--source",
            str(duck_video),
            "--model",
            str(starter_model),
            "--deny",
            str(deny),
            "--log",
            str(log),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("\n") == 1 and "birdcam: warning: the model does not know 1 of the 2 species" in err
    assert "Dodo bird" in err
    records = [json.loads(line) for line in log.read_text().splitlines()[:-1]]
    assert records and not any(r["common_name"] == "Mandarin Duck" for r in records)

    missing = cli.main(
        [
            "live",
            "--headless",
            "--source",
            str(duck_video),
            "--model",
            str(starter_model),
            "--allow",
            str(tmp_path / "nope.txt"),
            "--log",
            str(log),
        ]
    )
    err = capsys.readouterr().err
    assert missing == 2 and err.count("\n") == 1 and "nope.txt" in err


def test_the_detector_finds_names_and_records_each_of_two_small_birds(shared_dir, starter_model, tmp_path):
    """`--detector` reaches the headless run: two birds a sixth of the frame tall, each boxed, tracked, named and
    recorded as its own visit."""
    import dataclasses

    import bird_scenes
    import numpy as np

    from birdcam.models.labels import read_labels
    from birdcam.sightings import SightingsDB, default_path

    names = {label.scientific_name.lower() for label in read_labels(starter_model.parent / "labels.txt")}
    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, names)}
    background = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        background,
        [photos["EASTERN BLUEBIRD/1.jpg"], photos["BROWN THRASHER/1.jpg"]],
        heights=(220, 220),
        positions=[(0.25, 0.5), (0.72, 0.5)],
        speed=0.5,
    )
    frames = [frame for _, frame, _ in dataclasses.replace(shot, frames=120).play()]
    video = write_video(tmp_path / "two-birds.avi", frames, fps=FPS, size=bird_scenes.FRAME_SIZE)
    detector = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    log = tmp_path / "log.jsonl"
    code = cli.main(
        [
            "live",
            "--headless",
            "--source",
            str(video),
            "--model",
            str(starter_model),
            "--detector",
            str(detector),
            "--log",
            str(log),
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()][:-1]

    both = [r for r in records if {b["common_name"] for b in r["birds"]} >= {"Eastern Bluebird", "Brown Thrasher"}]
    assert len(both) >= 20, "both birds named together for a good part of the 4 s"
    for record in both:
        birds = {b["common_name"]: b for b in record["birds"]}
        bluebird, thrasher = birds["Eastern Bluebird"], birds["Brown Thrasher"]
        assert bluebird["track"] != thrasher["track"]
        assert bluebird["box"][0] + bluebird["box"][2] < 640 < thrasher["box"][0], "each where it is"
        assert all(b["box"][3] < 360 for b in (bluebird, thrasher)), "boxes of the birds, not of the frame"
    for name in ("Eastern Bluebird", "Brown Thrasher"):
        tracks = [b["track"] for r in both for b in r["birds"] if b["common_name"] == name]
        assert max(map(tracks.count, tracks)) >= 2 / 3 * len(tracks), f"the {name} keeps one track: {tracks}"
    with SightingsDB.open(default_path(), read_only=True) as db:
        visits = db.visits()
    assert sorted((v.common_name, v.count) for v in visits) == [("Brown Thrasher", 1), ("Eastern Bluebird", 1)]
