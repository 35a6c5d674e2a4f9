"""The recorder on real material (the shared photos as a video, the starter model's scene pass) and under every
database fault: damaged, locked by another program, read-only, an I/O error, a killed process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from sightings_material import T0, LockHolder, bird_video, damage, play, read_only, v1_database

from birdcam.models.classifier import Classifier
from birdcam.models.labels import parse_label, read_labels
from birdcam.scene.scene_pass import Bird, ScenePass
from birdcam.sightings import SightingsDB, SightingsRecorder, State, pending_path, side_path
from birdcam.sightings import db as db_module

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def labels(shared_dir):
    found = {label.common_name: label for label in read_labels(shared_dir / "models" / "aiy_birds_v1" / "labels.txt")}
    return found["Mandarin Duck"], found["Green-winged Teal"]


class Events:
    """The recorder's callbacks, collected (they run on its writer thread)."""

    def __init__(self):
        self.status: list[tuple[State, str]] = []
        self.notices: list[tuple[str, bool]] = []
        self.new_species: list[tuple[str, str]] = []
        self.changed = threading.Event()

    def kwargs(self) -> dict:
        return {
            "on_status": lambda state, message: self.status.append((state, message)),
            "on_notice": lambda message, error: self.notices.append((message, error)),
            "on_changed": self.changed.set,
            "on_new_species": lambda kind, visit: self.new_species.append((kind, visit.display_name)),
        }

    def states(self) -> list[State]:
        return [state for state, _ in self.status]


@pytest.fixture
def recorders():
    """Makes recorders and closes any left open."""
    made = []

    def make(path, **options) -> SightingsRecorder:
        options.setdefault("snapshot_dir", Path(path).parent / "snapshots")
        recorder = SightingsRecorder(path, **options)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()


def feed(recorder, label, seconds: float, start: float, *, frame=None, tracks=(1,), fps: float = 10) -> float:
    """`seconds` of frames with one bird per track of `label`; returns the time after the last frame."""
    t = start
    for _ in range(round(seconds * fps)):
        birds = tuple(Bird(track, (20 + 60 * i, 20, 50, 50), label, 0, 0.8, ()) for i, track in enumerate(tracks))
        recorder.update(birds if label is not False else (), t, frame)
        t += 1 / fps
    return t


def stored(path) -> list[tuple]:
    """What another program reads: a fresh connection."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT common_name, count, deleted FROM visits ORDER BY start").fetchall()


# -- real material -----------------------------------------------------------------------------------


def test_the_visits_of_a_video_are_its_birds_with_snapshots_and_clean_crops(
    shared_dir, starter_model, tmp_path, recorders
):
    video, plan = bird_video(shared_dir, tmp_path / "birds.avi")
    recorder = recorders(tmp_path / "sightings.sqlite3", source="video: birds.avi", model="aiy", merge_gap_s=0.5)
    with ScenePass(Classifier.from_path(starter_model)) as scene_pass:
        play(video, scene_pass, recorder)
    recorder.close()
    with SightingsDB.open(tmp_path / "sightings.sqlite3") as db:
        visits = db.visits()
    shots = [shot for shot in plan if shot.species is not None]
    capture = cv2.VideoCapture(str(video))
    frames = [capture.read()[1] for _ in range(plan[-1].first_frame + plan[-1].frames)]
    capture.release()
    assert [v.scientific_name.lower() for v in visits] == [shot.scientific_name.lower() for shot in shots]
    for visit, shot in zip(visits, shots):
        assert T0 + shot.first_frame / 10 <= visit.start <= T0 + (shot.first_frame + 3) / 10  # named within 0.3 s
        assert visit.end == pytest.approx(T0 + (shot.first_frame + shot.frames - 1) / 10)  # until its last frame
        assert (visit.count, visit.source, visit.model) == (1, "video: birds.avi", "aiy")
        snapshot, crop = cv2.imread(visit.snapshot_path), cv2.imread(visit.crop_path)
        assert snapshot.shape[0] == 360 and snapshot.shape[1] > 360 * 2  # the crop beside the whole frame
        frame = frames[shot.first_frame + shot.frames // 2]
        assert crop.shape == (240, 240, 3)  # the square the classifier saw, with its margin clipped to the frame
        assert np.abs(crop.astype(int) - frame[:, 40:280].astype(int)).mean() < 3  # nothing drawn on it


def test_two_birds_of_one_species_make_one_visit_counted_two(labels, tmp_path, recorders):
    duck, teal = labels
    recorder = recorders(tmp_path / "sightings.sqlite3")
    frame = np.zeros((120, 200, 3), np.uint8)
    t = feed(recorder, duck, 1.5, T0, frame=frame)
    t = feed(recorder, duck, 1.5, t, frame=frame, tracks=(1, 2))
    feed(recorder, teal, 1.5, t, frame=frame)
    recorder.close()
    assert stored(tmp_path / "sightings.sqlite3") == [("Mandarin Duck", 2, 0), ("Green-winged Teal", 1, 0)]


def test_snapshots_go_beside_a_database_given_elsewhere(labels, shared_dir, tmp_path, isolated_user_dirs):
    """`live --headless --db ELSEWHERE` wrote its snapshots into the default data folder."""
    duck, _ = labels
    elsewhere = tmp_path / "feeder" / "sightings.sqlite3"
    photo = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    with SightingsRecorder(elsewhere) as recorder:
        feed(recorder, duck, 1.5, T0, frame=photo)
    with SightingsDB.open(elsewhere, read_only=True) as db:
        (visit,) = db.visits()
    for picture in (visit.snapshot_path, visit.crop_path):
        assert Path(picture).is_file() and Path(picture).is_relative_to(elsewhere.parent / "snapshots" / "visits")
    assert not list((isolated_user_dirs / "data").rglob("*.jpg"))


def test_update_never_touches_sqlite_on_the_callers_thread(labels, tmp_path, recorders, monkeypatch):
    threads = set()
    original = sqlite3.connect

    def watched(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(db_module.sqlite3, "connect", watched)
    recorder = recorders(tmp_path / "sightings.sqlite3")
    feed(recorder, labels[0], 3, T0, frame=np.zeros((60, 80, 3), np.uint8))
    assert recorder.flush()
    assert threads == {"sightings writer"}


def test_new_species_notices_say_ever_or_today_and_respect_the_mute_list(labels, tmp_path, recorders):
    duck, teal = labels
    path = tmp_path / "sightings.sqlite3"
    yesterday = time.time() - 86_400 * 1.5
    v1_database(path, [(yesterday, yesterday + 5, "Mandarin Duck", "Aix galericulata")])
    events = Events()
    recorder = recorders(path, muted=["anas CRECCA"], **events.kwargs())
    t = feed(recorder, duck, 1.5, time.time())
    t = feed(recorder, duck, 1.5, t + 60)  # the second visit today gives no notice
    recorder.flush()
    assert events.new_species == [("today", "Mandarin Duck")]
    feed(recorder, teal, 1.5, t)
    recorder.flush()
    assert events.new_species == [("today", "Mandarin Duck")]  # muted
    recorder.set_muted([])
    feed(recorder, parse_label("Aix sponsa (Wood Duck)"), 1.5, t + 100)
    recorder.flush()
    assert events.new_species[-1] == ("ever", "Wood Duck")


def test_relabel_and_delete_from_the_recorder(labels, tmp_path, recorders):
    duck, teal = labels
    events = Events()
    recorder = recorders(tmp_path / "sightings.sqlite3", **events.kwargs())
    t = feed(recorder, duck, 1.5, T0)
    feed(recorder, teal, 1.5, t + 40)
    recorder.flush()
    teal_visit, duck_visit = recorder.overview.recent
    recorder.rename(duck_visit.id, "Mallard", "Anas platyrhynchos")
    recorder.delete(teal_visit.id)
    recorder.rename(999, "Mallard", "")
    recorder.flush()
    (renamed,) = recorder.overview.recent
    assert (renamed.display_name, renamed.original_display_name) == ("Mallard", "Mandarin Duck")
    (renamed_note, renamed_error), (deleted_note, deleted_error), (refused, refused_error) = events.notices
    assert renamed_note.startswith(f"Visit {duck_visit.id} renamed to Mallard") and not renamed_error
    assert "deleted" in deleted_note and not deleted_error
    assert "999 does not exist" in refused and refused_error


# -- faults --------------------------------------------------------------------------------------------


def test_a_damaged_database_is_left_untouched_and_recording_goes_beside_it(labels, tmp_path, recorders):
    duck, teal = labels
    path = tmp_path / "sightings.sqlite3"
    with SightingsDB.open(path) as db:
        db.upsert(db_module.Visit(None, T0, T0 + 3, "Mandarin Duck", "Aix galericulata", 0.9, "", "", uid="old"))
    damaged = damage(path)
    events = Events()
    recorder = recorders(path, **events.kwargs())
    feed(recorder, duck, 1.5, T0 + 100)
    recorder.close()
    assert events.states()[0] == State.DAMAGED and "is damaged" in events.status[0][1]
    assert "sightings.new.sqlite3" in events.status[0][1]
    assert path.read_bytes() == damaged
    assert stored(side_path(path)) == [("Mandarin Duck", 1, 0)]

    recorder = recorders(path)  # the next start uses the same side database
    feed(recorder, teal, 1.5, T0 + 200)
    recorder.close()
    assert path.read_bytes() == damaged
    assert stored(side_path(path)) == [("Mandarin Duck", 1, 0), ("Green-winged Teal", 1, 0)]

    path.rename(tmp_path / "moved-away.sqlite3")  # the user moves the damaged file away
    recorder = recorders(path)
    recorder.flush()
    assert recorder.overview.state == State.RECORDING and recorder.overview.path == path
    assert [v.common_name for v in recorder.overview.recent] == ["Green-winged Teal", "Mandarin Duck"]
    assert not side_path(path).exists()


def test_while_another_program_holds_the_lock_visits_wait_and_are_written_when_it_goes(labels, tmp_path, recorders):
    duck, teal = labels
    path = tmp_path / "sightings.sqlite3"
    SightingsDB.open(path).close()
    events = Events()
    with LockHolder(path) as holder:
        recorder = recorders(path, retry_interval_s=0.05, **events.kwargs())
        t = feed(recorder, duck, 1.5, T0)
        feed(recorder, teal, 1.5, t + 40)
        assert not recorder.flush()
        overview = recorder.overview
        assert overview.state == State.LOCKED and "locked by another program" in overview.message
        assert overview.waiting == 2 and [v.id for v in overview.recent] == [None, None]
        assert stored(path) == []
        holder.release()
        deadline = time.monotonic() + 5
        while recorder.overview.state == State.LOCKED and time.monotonic() < deadline:
            time.sleep(0.02)
    assert recorder.flush()
    assert recorder.overview.state == State.RECORDING and recorder.overview.waiting == 0
    assert stored(path) == [("Mandarin Duck", 1, 0), ("Green-winged Teal", 1, 0)]
    assert events.states() == [
        State.RECORDING,
        State.LOCKED,
        State.RECORDING,
    ]  # it opens (WAL readers go on), then waits


def test_the_locked_message_names_the_file_that_is_locked(labels, tmp_path, recorders):
    """With the main database damaged, a lock on the side database was said to be on the main one."""
    duck, teal = labels
    path = tmp_path / "sightings.sqlite3"
    with SightingsDB.open(path) as db:
        db.upsert(db_module.Visit(None, T0, T0 + 3, "Mandarin Duck", "Aix galericulata", 0.9, "", "", uid="old"))
    damage(path)
    recorder = recorders(path, retry_interval_s=0.05)
    t = feed(recorder, duck, 1.5, T0 + 100)
    assert recorder.flush() and recorder.overview.state == State.DAMAGED
    with LockHolder(side_path(path)):
        feed(recorder, teal, 1.5, t + 40)
        recorder.flush(timeout=1.0)
        overview = recorder.overview
    assert overview.state == State.LOCKED
    assert overview.message.startswith("The sightings database sightings.new.sqlite3 is locked by another program")


def test_closing_while_locked_keeps_the_visits_for_the_next_start(labels, tmp_path, recorders):
    duck, _ = labels
    path = tmp_path / "sightings.sqlite3"
    SightingsDB.open(path).close()
    with LockHolder(path):
        recorder = recorders(path, retry_interval_s=0.05)
        feed(recorder, duck, 1.5, T0, frame=np.zeros((60, 80, 3), np.uint8))
        recorder.close(timeout=1.0)
        recorder._thread.join(5)  # (a loaded machine may need a moment past close's own bound)
        assert not recorder._thread.is_alive(), "the writer gave up on the lock and kept the visit"
        kept = [json.loads(line) for line in pending_path(path).read_text().splitlines()]
        assert [(v["common_name"], v["end"]) for v in kept] == [("Mandarin Duck", pytest.approx(T0 + 1.4))]
        assert Path(kept[0]["snapshot_path"]).is_file()
    assert stored(path) == []
    events = Events()
    recorder = recorders(path, **events.kwargs())
    recorder.flush()
    assert stored(path) == [("Mandarin Duck", 1, 0)] and not pending_path(path).exists()
    assert ("1 visit kept from the last session written", False) in events.notices  # not "1 visits"


def test_a_read_only_database_lists_its_visits_and_records_nothing(labels, tmp_path, recorders):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = v1_database(folder / "sightings.sqlite3", [(T0, T0 + 3, "Mandarin Duck", "Aix galericulata")])
    before = path.read_bytes()
    events = Events()
    with read_only(folder):
        recorder = recorders(path, snapshot_dir=tmp_path / "snapshots", **events.kwargs())
        feed(recorder, labels[1], 2, T0 + 100, frame=np.zeros((60, 80, 3), np.uint8))
        recorder.flush()
        overview = recorder.overview
        recorder.close()
    assert overview.state == State.READ_ONLY and not overview.recording
    assert "read-only" in overview.message and "damaged" not in overview.message
    assert [v.common_name for v in overview.recent] == ["Mandarin Duck"]
    assert path.read_bytes() == before and not (tmp_path / "snapshots").exists()


def test_a_snapshot_folder_that_is_gone_stops_recording_with_a_message(labels, tmp_path, recorders):
    duck, teal = labels
    snapshots = tmp_path / "snapshots"
    events = Events()
    recorder = recorders(tmp_path / "sightings.sqlite3", snapshot_dir=snapshots, **events.kwargs())
    frame = np.zeros((60, 80, 3), np.uint8)
    t = feed(recorder, duck, 1.5, T0, frame=frame)
    recorder.flush()
    for picture in snapshots.rglob("*.jpg"):
        picture.unlink()
    (snapshots / "crops").rmdir()
    snapshots.rmdir()
    snapshots.write_text("a file where the folder was")
    t = feed(recorder, teal, 1.5, t + 40, frame=frame)
    recorder.flush()
    feed(recorder, duck, 3, t + 40, frame=frame)  # recording is off: these frames do nothing
    recorder.close()
    assert events.states() == [State.RECORDING, State.ERROR]
    assert "cannot write snapshots" in recorder.overview.message
    assert stored(tmp_path / "sightings.sqlite3") == [("Mandarin Duck", 1, 0), ("Green-winged Teal", 1, 0)]


DISK_FULL = """
import json, resource, signal, sys
import numpy as np
from birdcam.models.labels import parse_label
from birdcam.scene.scene_pass import Bird
from birdcam.sightings import SightingsRecorder

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
status = []
recorder = SightingsRecorder(sys.argv[1], snapshot_dir=sys.argv[2], on_status=lambda s, m: status.append([s.value, m]))
duck = parse_label("Aix galericulata (Mandarin Duck)")
frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8) if sys.argv[3] == "1" else None
t = 1.8e9
for visit in range(20):
    for _ in range(15):
        recorder.update((Bird(1, (100, 100, 300, 300), duck, 0, 0.8, ()),), t, frame)
        t += 0.1
    t += 40
    recorder.flush()
recorder.close()
print(json.dumps(status))
"""


@pytest.mark.parametrize("snapshots", [True, False], ids=["snapshots", "database"])
def test_a_full_disk_stops_recording_with_a_message_not_a_traceback(tmp_path, snapshots):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            DISK_FULL,
            str(tmp_path / "s.sqlite3"),
            str(tmp_path / "snapshots"),
            "1" if snapshots else "0",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    status = json.loads(done.stdout)
    states = [state for state, _ in status]
    assert states == ["recording", "error"]
    assert ("cannot write snapshots" if snapshots else "cannot write s.sqlite3") in status[1][1]
    assert "free space" in status[1][1]


FILLS_UP = """
import json, resource, signal, sys
from pathlib import Path
import numpy as np
from birdcam.models.labels import parse_label
from birdcam.scene.scene_pass import Bird
from birdcam.sightings import SightingsRecorder, keeper

db, snapshots, blocked = sys.argv[1], sys.argv[2], sys.argv[3] == "everywhere"
if blocked:  # the cache and temporary folders cannot take a file either
    keeper.paths.cache_dir = lambda: Path(db).parent / "a-file" / "cache"
    keeper.tempfile.gettempdir = lambda: str(Path(db).parent / "a-file" / "tmp")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))
notices = []
recorder = SightingsRecorder(db, snapshot_dir=snapshots, on_notice=lambda m, e: notices.append([m, e]))
duck = parse_label("Aix galericulata (Mandarin Duck)")
frame = np.tile(np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None], (120, 1, 3))  # small JPEGs
t, handed = 1.8e9, 0
for visit in range(40):
    for _ in range(15):
        recorder.update((Bird(1, (20, 20, 60, 60), duck, 0, 0.8, ()),), t, frame)
        t += 0.1
    recorder.update((), t)
    t += 40
    handed += recorder.overview.recording
recorder.close(timeout=5)
print(json.dumps({"notices": notices, "state": recorder.overview.state.value}))
"""


def _fill_up(tmp_path, blocked: str) -> dict:
    """Records 40 visits into a database on a disk that fills up (a 60 KB file size limit); the pending file
    beside the database cannot be written (a folder is in its place)."""
    (tmp_path / "a-file").write_text("")
    pending_path(tmp_path / "s.sqlite3").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", FILLS_UP, str(tmp_path / "s.sqlite3"), str(tmp_path / "snapshots"), blocked],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return json.loads(done.stdout)


def _pictures_of(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT snapshot_path, crop_path FROM visits").fetchall()
    return {picture for row in rows for picture in row if picture}


def test_visits_the_full_disk_kept_from_the_database_wait_elsewhere_and_come_in_on_the_next_start(
    tmp_path, recorders, isolated_user_dirs
):
    """Visits that could not be written were lost, and their snapshots left behind."""
    run = _fill_up(tmp_path, "beside")
    assert run["state"] == "error"
    ((kept, is_error),) = [notice for notice in run["notices"] if "wait in" in notice[0]]
    assert not is_error and str(isolated_user_dirs / "cache" / "pending") in kept  # beside the database: no room
    waiting = int(kept.split()[0])
    assert waiting >= 1 and not any("lost" in message for message, _ in run["notices"])
    before = len(stored(tmp_path / "s.sqlite3"))
    pending_path(tmp_path / "s.sqlite3").rmdir()

    events = Events()
    recorder = recorders(tmp_path / "s.sqlite3", **events.kwargs())  # space again: the next start takes them in
    recorder.flush()
    recorder.close()
    assert len(stored(tmp_path / "s.sqlite3")) == before + waiting
    assert (f"{waiting} visits kept from the last session written", False) in events.notices
    pictures = {str(p) for p in (tmp_path / "snapshots").rglob("*.jpg")}
    assert pictures and pictures <= _pictures_of(tmp_path / "s.sqlite3"), "a picture without its visit"


def test_visits_no_place_can_keep_are_lost_with_their_pictures(tmp_path):
    run = _fill_up(tmp_path, "everywhere")
    lost = [message for message, is_error in run["notices"] if is_error]
    assert len(lost) == 1 and "could not be written or kept anywhere: lost" in lost[0]
    pictures = {str(p) for p in (tmp_path / "snapshots").rglob("*.jpg")}
    assert pictures <= _pictures_of(tmp_path / "s.sqlite3"), "a lost visit's picture was left behind"


WRITER = """
import sys
from birdcam.models.labels import parse_label
from birdcam.scene.scene_pass import Bird
from birdcam.sightings import SightingsRecorder

labels = [parse_label("Aix galericulata (Mandarin Duck)"), parse_label("Anas crecca (Green-winged Teal)")]
recorder = SightingsRecorder(sys.argv[1], merge_gap_s=0.5)
t, n = 1.8e9, 0
while True:
    label, start = labels[n % 2], t
    for _ in range(15):
        recorder.update((Bird(1, (0, 0, 10, 10), label, 0, 0.9, ()),), t)
        t += 0.1
    recorder.update((), t)
    recorder.flush()
    print(n, repr(start), repr(t - 0.1), label.common_name, flush=True)
    t += 1.0
    n += 1
"""


def test_the_log_survives_a_killed_process(tmp_path):
    path = tmp_path / "killed.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    finished = []
    try:
        while len(finished) < 30:
            line = writer.stdout.readline()
            assert line, "the writer stopped early"
            n, start, end, name = line.split(maxsplit=3)
            finished.append((float(start), float(end), name.strip()))
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as after:
        assert after.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = after.execute("SELECT start, end, common_name FROM visits ORDER BY id").fetchall()
    assert len(rows) >= len(finished)
    for (start, end, name), row in zip(finished, rows):
        assert row == (start, pytest.approx(end), name)
