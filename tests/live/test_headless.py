"""`birdcam live --headless` on a video built from the shared photos, with the starter model."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bird_scenes
import cv2
import numpy as np
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
        (["--source", "{video}", "--every-frame", "--loop"], "--every-frame reads the recording once"),
        (["--source", "{video}", "--every-frame", "--no-realtime"], "drop --no-realtime"),
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


def test_a_still_camera_finds_a_bird_that_comes_in_sooner(shared_dir, starter_model, tmp_path):
    """`--still-camera` reaches the scene pass: on a still living room a bluebird that appears at frame 20 is boxed
    within a third of a second, where the tiles' turn comes later without it."""
    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, set())}
    room = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    shot = bird_scenes.make_shot(
        np.random.default_rng(1),
        room,
        [photos["EASTERN BLUEBIRD/1.jpg"]],
        outlines=bird_scenes.Outlines(shared_dir, tmp_path / "outlines"),
        heights=(100, 100),
        positions=[(0.8, 0.75)],
        pan=0.0,
        speed=1.0,
    )
    empty = dataclasses.replace(shot, birds=())
    frames = [(shot if n >= 20 else empty).frame(n)[0] for n in range(shot.frames)]
    video = write_video(tmp_path / "arrival.avi", frames, fps=FPS, size=bird_scenes.FRAME_SIZE)
    detector = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    first_boxed = {}
    for still in (True, False):
        log = tmp_path / f"still-{still}.jsonl"
        argv = ["--every-frame", "--no-sightings", "--source", str(video), "--model", str(starter_model)]
        argv += ["--detector", str(detector), "--log", str(log), *(["--still-camera"] if still else [])]
        assert cli.main(["live", "--headless", *argv]) == 0
        records = [json.loads(line) for line in log.read_text().splitlines()][:-1]
        boxed = [r["frame"] for r in records if any(not b["whole_frame"] and b["box"][0] > 800 for b in r["birds"])]
        first_boxed[still] = min(boxed, default=len(frames))
    assert 20 <= first_boxed[True] <= 30 and first_boxed[True] < first_boxed[False], first_boxed


# -- a recording processed fully, and the faults of an unattended run ---------------------------------------------


def _headless(*argv: str, limit_bytes: int | None = None, env: dict | None = None, timeout: float = 240):
    """`birdcam live --headless ARGV` in a process of its own (a file size limit stands in for a full disk)."""
    prefix = []
    if limit_bytes is not None:
        prefix = [
            "import resource, signal, sys",
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)",  # past the limit a write fails (EFBIG), as on a full disk
            f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))",
        ]
    script = "\n".join([*prefix, "import sys", "from birdcam.cli import main", "sys.exit(main(sys.argv[1:]))"])
    return subprocess.run(
        [sys.executable, "-c", script, "live", "--headless", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})},
    )


def test_every_frame_processes_a_recording_fully_and_times_visits_by_its_clock(shared_dir, starter_model, tmp_path):
    """--no-realtime classified 43 of 1,182 frames and recorded no visit."""
    from sightings_material import bird_video

    from birdcam.sightings import SightingsDB

    video, plan = bird_video(shared_dir, tmp_path / "feeder.avi")  # 10 fps: five birds of 2 s, 1 s apart
    log, db = tmp_path / "log.jsonl", tmp_path / "feeder.sqlite3"
    done = _headless(
        "--every-frame", "--source", str(video), "--model", str(starter_model), "--log", str(log), "--db", str(db)
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    frames = plan[-1].first_frame + plan[-1].frames
    assert done.stdout.startswith(f"processed {frames} of {frames} frames (")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    records, summary = lines[:-1], lines[-1]
    assert [r["frame"] for r in records] == list(range(frames)) == [r["result_frame"] for r in records]
    assert summary["frames_classified"] == summary["frames_captured"] == frames and summary["every_frame"]
    named = {r["frame"]: r["scientific_name"] for r in records if r["is_bird"]}
    for shot in plan:  # each bird is named on its shot's settled frames, and nowhere else
        settled = range(shot.first_frame + 5, shot.first_frame + shot.frames)
        if shot.species is None:
            assert not any(f in named for f in settled)
        else:
            assert {named.get(f, "").lower() for f in settled} == {shot.scientific_name.lower()}
    start = video.stat().st_mtime - frames / 10  # the video's own clock: the file's time minus its length
    with SightingsDB.open(db, read_only=True) as opened:
        visits = opened.visits()
    species = [shot for shot in plan if shot.species is not None]
    first = {}
    for shot in species:
        first.setdefault(shot.scientific_name.lower(), shot)
    assert [v.scientific_name.lower() for v in visits] == list(first)  # a species back within 30 s: one visit
    for visit in visits:
        shot = first[visit.scientific_name.lower()]
        assert visit.start == pytest.approx(start + shot.first_frame / 10, abs=0.35)  # named within 0.3 s
        last = max(
            s.first_frame + s.frames - 1 for s in species if s.scientific_name.lower() == visit.scientific_name.lower()
        )
        assert visit.end == pytest.approx(start + last / 10, abs=0.01)
        assert Path(visit.snapshot_path).is_relative_to(tmp_path / "snapshots")  # beside the database


def test_every_frame_refuses_a_live_source(starter_model, tmp_path, capsys):
    code = cli.main(["live", "--headless", "--every-frame", "--source", "camera:0", "--log", str(tmp_path / "l.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--every-frame processes a recording" in err
    assert not (tmp_path / "l.jsonl").exists()


@pytest.mark.parametrize("where", ["read-only folder", "read-only database", "a file as folder"])
def test_a_database_nothing_can_be_recorded_in_is_refused_before_the_run(
    duck_video, starter_model, tmp_path, capsys, where
):
    """--db on a place it cannot write, or an existing read-only database, played the recording to its end, recorded
    nothing and exited 0."""
    from sightings_material import read_only, v1_database

    folder = tmp_path / "sightings"
    folder.mkdir()
    db = folder / "sightings.sqlite3"
    if where == "read-only database":
        v1_database(db, [(1.8e9, 1.8e9 + 5, "Mandarin Duck", "Aix galericulata")])
    elif where == "a file as folder":
        (folder / "notes").write_text("a file")
        db = folder / "notes" / "sightings.sqlite3"
    log = tmp_path / "log.jsonl"
    argv = ["live", "--headless", "--source", str(duck_video), "--model", str(starter_model), "--log", str(log)]
    argv += ["--db", str(db)]
    if where.startswith("read-only"):
        with read_only(folder):
            code = cli.main(argv)
    else:
        code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(db) in err and "--no-sightings" in err, err
    assert not log.exists(), "the run started"


def test_a_full_disk_stops_the_log_not_the_run(shared_dir, starter_model, tmp_path):
    """The log meeting a full disk was a traceback, the logger died and left a 0-byte log."""
    from birdcam.sightings import SightingsDB, SightingsRecorder

    duck = cv2.resize(read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg"), (160, 120))
    cat = cv2.resize(read_image(shared_dir / "images" / "not-birds" / "cat.jpg"), (160, 120))
    video = write_video(tmp_path / "long.avi", ([duck] * 300 + [cat] * 100) * 2, fps=10, size=(160, 120))
    log, db = tmp_path / "log.jsonl", tmp_path / "s.sqlite3"
    done = _headless(
        "--every-frame",
        "--source",
        str(video),
        "--model",
        str(starter_model),
        "--log",
        str(log),
        "--db",
        str(db),
        limit_bytes=120_000,
    )
    assert done.returncode == 2, done.stderr
    said = done.stderr.splitlines()
    assert "Traceback" not in done.stderr and all(line.startswith("birdcam: warning: ") for line in said), said
    assert (
        f"birdcam: warning: cannot write the log {log}: File too large; it ends with the last frame written, "
        "visits are still recorded" in said
    )
    assert done.stdout.startswith("processed 800 of 800 frames")  # the run went to the end
    lines = log.read_text().splitlines()
    assert 100 < len(lines) < 800 and all(json.loads(line)["frame"] == n for n, line in enumerate(lines))
    with SightingsRecorder(db) as recorder:  # the next start, with room again: the visit the disk kept out comes in
        recorder.flush()
    with SightingsDB.open(db, read_only=True) as opened:
        visits = opened.visits()
    assert [v.common_name for v in visits] == ["Mandarin Duck"] and visits[0].end - visits[0].start > 5


def test_a_cut_short_video_says_so_and_exits_2(shared_dir, starter_model, tmp_path, capsys):
    """A truncated AVI ended with exit code 0 and no word."""
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    video = write_video(tmp_path / "cut.avi", [duck] * 60, fps=30)
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    log = tmp_path / "log.jsonl"
    code = cli.main(
        [
            "live",
            "--headless",
            "--every-frame",
            "--no-sightings",
            "--source",
            str(video),
            "--model",
            str(starter_model),
            "--log",
            str(log),
        ]
    )
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    read = len(lines) - 1
    assert code == 2 and 0 < read < 60
    assert err == (
        f"birdcam: warning: cut.avi ended after {read} of its 60 frames: the file is cut short or damaged; "
        "the log has the frames it had\n"
    )
    assert out.startswith(f"processed {read} of {read} frames")


def test_images_of_a_folder_that_cannot_be_read_are_named(shared_dir, starter_model, tmp_path, capsys):
    """Unreadable files in an image folder were skipped without a word."""
    folder = tmp_path / "trail camera"
    folder.mkdir()
    shutil.copy(shared_dir / "images" / "birds" / "mandarin_duck.jpg", folder / "1.jpg")
    (folder / "2.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off while copying")
    shutil.copy(shared_dir / "images" / "not-birds" / "cat.jpg", folder / "3.jpg")
    log = tmp_path / "log.jsonl"
    code = cli.main(
        [
            "live",
            "--headless",
            "--every-frame",
            "--no-sightings",
            "--source",
            str(folder),
            "--model",
            str(starter_model),
            "--log",
            str(log),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("birdcam: warning: skipped 2.jpg: ") and err.count("\n") == 1, err
    records = [json.loads(line) for line in log.read_text().splitlines()][:-1]
    assert [r["is_bird"] for r in records] == [True, False]  # one frame per photo: the duck, the cat


def test_a_stream_that_cannot_be_reached_says_so_while_retrying(starter_model, tmp_path):
    """An unreachable stream retried in silence and the summary said "staleness p95 None frames"."""
    import signal
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "log.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "birdcam",
            "live",
            "--headless",
            "--no-sightings",
            "--source",
            f"http://127.0.0.1:{port}/feeder.mjpg",
            "--model",
            str(starter_model),
            "--log",
            str(log),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    said = []
    try:
        while len(said) < 2:
            line = process.stderr.readline()
            assert line, f"birdcam ended before retrying twice: {said}"
            said.append(line)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert all(line.startswith("birdcam: warning: ") and f"127.0.0.1:{port}" in line for line in said), said
    assert "retrying in 0.5 s (attempt 1)" in said[0] and "(attempt 2)" in said[1]
    assert process.returncode == 0 and "Traceback" not in err
    assert "None" not in out and "no frame was classified" in out


@pytest.mark.parametrize("mode", ["--every-frame", "--no-realtime"])
def test_boxes_of_a_photo_over_4096_pixels_are_in_its_own_pixels(shared_dir, starter_model, tmp_path, mode):
    """A 5120x3840 photo in a folder is decoded at half size; the log's boxes were in the half-size pixels."""
    folder = tmp_path / "photos"
    folder.mkdir()
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")  # the duck's middle: about (0.45, 0.6)
    cv2.imwrite(str(folder / "duck.jpg"), cv2.resize(duck, (5120, 3840), interpolation=cv2.INTER_CUBIC))
    yolox = shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"
    log = tmp_path / "log.jsonl"
    argv = ["live", "--headless", mode, "--no-sightings", "--source", str(folder), "--model", str(starter_model)]
    # Every frame is classified in --every-frame; in --no-realtime only the newest, as often as the machine allows:
    # enough frames that a loaded machine still classifies the duck more than once (it boxes a bird it saw twice).
    frames = "15" if mode == "--every-frame" else "120"
    assert cli.main([*argv, "--detector", str(yolox), "--max-frames", frames, "--log", str(log)]) == 0
    boxes = [bird["box"] for line in log.read_text().splitlines()[:-1] for bird in json.loads(line)["birds"]]
    assert boxes, "the duck was never boxed"
    for x, y, w, h in boxes:
        assert w > 800 and 1600 < x + w / 2 < 3000 and 1700 < y + h / 2 < 3000, (x, y, w, h)
