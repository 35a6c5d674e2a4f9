"""`birdcam sightings` on visits recorded from a video of the shared photos: listing, corrections, CSV and eBird
exports, the dataset for `birdcam train`, the daily summary and its chart, and bad input as one line."""

from __future__ import annotations

import csv
import datetime
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from sightings_material import bird_video, damage, play, read_only

from birdcam.cli import main
from birdcam.models.classifier import Classifier
from birdcam.models.labels import read_labels
from birdcam.scene.scene_pass import Bird, ScenePass
from birdcam.sightings import SightingsDB, SightingsRecorder
from birdcam.sightings.exports import EBIRD_COLUMNS

REPO = Path(__file__).resolve().parents[2]
DAY1 = datetime.datetime.combine(datetime.date.today() - datetime.timedelta(days=2), datetime.time(8, 0))
DAY2 = datetime.datetime.combine(datetime.date.today() - datetime.timedelta(days=1), datetime.time(9, 30))


@pytest.fixture(scope="module")
def recorded(shared_dir, starter_model, tmp_path_factory) -> Path:
    """A database recorded from real material, kept as a template (copy it to change it).

    The day before yesterday: the video's five visits (kingfisher, waxwing, kingfisher, bluebird, waxwing).
    Yesterday: two Mandarin Ducks at once, then a bird the model does not know. A kingfisher 400 days ago.
    """
    folder = tmp_path_factory.mktemp("recorded")
    video, _ = bird_video(shared_dir, folder / "birds.avi")
    path = folder / "sightings.sqlite3"
    recorder = SightingsRecorder(
        path, source="video: birds.avi", model="aiy", snapshot_dir=folder / "snapshots", merge_gap_s=0.5
    )
    with ScenePass(Classifier.from_path(starter_model)) as scene_pass:
        play(video, scene_pass, recorder, start=DAY1.timestamp())
    labels = {label.common_name: label for label in read_labels(starter_model.parent / "labels.txt")}
    duck = cv2.imread(str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"))
    t = DAY2.timestamp()
    for n in range(20):
        boxes = [(100, 150, 400, 400), (520, 200, 380, 380)]
        recorder.update(
            tuple(
                Bird(track, box, labels["Mandarin Duck"], 0, 0.9, ())
                for track, box in zip((1, 2), boxes[: 1 + (n >= 5)])
            ),
            t + n / 10,
            duck,
        )
    recorder.update((), t + 2)
    recorder.update((Bird(3, (100, 150, 400, 400), None, None, 0.7, ()),), t + 100, duck)
    recorder.update((Bird(3, (100, 150, 400, 400), None, None, 0.7, ()),), t + 101.5, duck)
    recorder.close()
    old = DAY1.timestamp() - 400 * 86_400
    with SightingsDB.open(path) as db:
        db.upsert(db.visits()[0].replace(uid="long ago", start=old, end=old + 5, snapshot_path=None, crop_path=None))
    return path


@pytest.fixture
def db_copy(recorded, tmp_path) -> Path:
    path = tmp_path / "sightings.sqlite3"
    shutil.copyfile(recorded, path)
    return path


def ids(path: Path) -> dict[str, list[int]]:
    """Visit ids by name, oldest first."""
    with SightingsDB.open(path, read_only=True) as db:
        found: dict[str, list[int]] = {}
        for visit in db.visits():
            found.setdefault(visit.display_name, []).append(visit.id)
        return found


def error_line(capsys) -> str:
    """The one line a bad input prints (and nothing else)."""
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("birdcam: error: "), captured.err
    assert "Traceback" not in captured.out + captured.err
    return lines[0]


def test_the_list_shows_ids_names_counts_and_sources(recorded, capsys):
    assert main(["sightings", "--db", str(recorded), "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert "Unknown bird" in lines[0] and "Mandarin Duck (Aix galericulata)" in lines[1] and " x2 " in lines[1]
    assert "Cedar Waxwing (Bombycilla cedrorum)" in lines[2] and "[video: birds.avi]" in lines[2]
    assert lines[1].split()[0].isdigit()


def test_the_default_database_and_none_yet(isolated_user_dirs, capsys):
    assert main(["sightings"]) == 0
    assert capsys.readouterr().out.startswith("No sightings yet (they are kept in ")
    assert not (isolated_user_dirs / "data" / "sightings.sqlite3").exists()


def test_a_relabel_and_a_delete_change_the_exported_dataset(db_copy, starter_model, tmp_path, capsys):
    before = tmp_path / "before"
    assert main(["sightings", "--db", str(db_copy), "--export-dataset", str(before)]) == 0
    assert sorted(p.name for p in before.iterdir() if p.is_dir()) == [
        "Belted Kingfisher",
        "Cedar Waxwing",
        "Eastern Bluebird",
        "Mandarin Duck",
    ]  # no unnamed unknown bird
    assert sorted(p.name for p in (before / "Belted Kingfisher").iterdir()) == [
        "1.jpg",
        "2.jpg",
    ]  # the old one: no crop

    visits = ids(db_copy)
    assert (
        main(
            [
                "sightings",
                "--db",
                str(db_copy),
                "--relabel",
                str(visits["Eastern Bluebird"][0]),
                "Sialia currucoides (Mountain Bluebird)",
                "--model",
                str(starter_model),
            ]
        )
        == 0
    )
    assert "is now Mountain Bluebird (Sialia currucoides); it was Eastern Bluebird" in capsys.readouterr().out
    assert main(["sightings", "--db", str(db_copy), "--relabel", str(visits["Unknown bird"][0]), "Mandarin Duck"]) == 0
    assert main(["sightings", "--db", str(db_copy), "--delete", str(visits["Cedar Waxwing"][1])]) == 0
    capsys.readouterr()
    assert main(["sightings", "--db", str(db_copy)]) == 0
    listed = capsys.readouterr().out
    assert "Mountain Bluebird (Sialia currucoides)  [video: birds.avi]  (renamed from Eastern Bluebird)" in listed
    assert "Mandarin Duck (Aix galericulata)  [video: birds.avi]  (renamed from Unknown bird)" in listed
    assert listed.count("Cedar Waxwing") == 1

    after = tmp_path / "after"
    assert main(["sightings", "--db", str(db_copy), "--export-dataset", str(after)]) == 0
    classes = {p.name: sorted(f.name for f in p.iterdir()) for p in after.iterdir() if p.is_dir()}
    assert classes == {
        "Belted Kingfisher": ["1.jpg", "2.jpg"],
        "Cedar Waxwing": ["1.jpg"],
        "Mountain Bluebird": ["1.jpg"],
        "Mandarin Duck": ["1.jpg", "2.jpg"],
    }
    assert (after / "Mountain Bluebird" / "1.jpg").read_bytes() == (before / "Eastern Bluebird" / "1.jpg").read_bytes()
    with (after / "birds.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["class id", "filepaths", "labels", "data set", "scientific name"]
    names = {row["labels"]: row["scientific name"] for row in rows}
    assert names == {
        "Belted Kingfisher": "Megaceryle alcyon",
        "Cedar Waxwing": "Bombycilla cedrorum",
        "Mandarin Duck": "Aix galericulata",
        "Mountain Bluebird": "Sialia currucoides",
    }
    crop = cv2.imread(str(after / "Mandarin Duck" / "2.jpg"))  # the renamed unknown bird, named "Mandarin Duck" alone
    assert crop.shape[0] == crop.shape[1] > 400


def stored_names(path: Path, visit_id: int) -> tuple[str, str]:
    with SightingsDB.open(path, read_only=True) as db:
        visit = db.get(visit_id)
    return visit.common_name, visit.scientific_name


@pytest.mark.parametrize("typed", ["Great Gray Owl", "great gray owl", "strix nebulosa", "STRIX  NEBULOSA"])
def test_a_typed_name_is_stored_with_both_names_of_the_models_species(db_copy, starter_model, typed, capsys):
    """A common name alone was saved without its scientific name, a lower-case scientific one as a common name."""
    visit_id = ids(db_copy)["Eastern Bluebird"][0]
    assert (
        main(["sightings", "--db", str(db_copy), "--model", str(starter_model), "--relabel", str(visit_id), typed]) == 0
    )
    assert stored_names(db_copy, visit_id) == ("Great Gray Owl", "Strix nebulosa")
    assert "is now Great Gray Owl (Strix nebulosa)" in capsys.readouterr().out


def test_a_name_known_from_the_recorded_visits_needs_no_model(db_copy, capsys):
    visit_id = ids(db_copy)["Unknown bird"][0]
    assert main(["sightings", "--db", str(db_copy), "--relabel", str(visit_id), "belted kingfisher"]) == 0
    assert stored_names(db_copy, visit_id) == ("Belted Kingfisher", "Megaceryle alcyon")


def test_a_name_the_model_does_not_know_is_refused_unless_stored_as_typed(db_copy, starter_model, capsys):
    """ "Xyzzy bird" was saved as a scientific name without a word."""
    visit_id = ids(db_copy)["Eastern Bluebird"][0]
    argv = ["sightings", "--db", str(db_copy), "--model", str(starter_model), "--relabel", str(visit_id), "Xyzzy bird"]
    assert main(argv) == 2
    line = error_line(capsys)
    assert "'Xyzzy bird' is not a species the model knows" in line and "--as-typed" in line
    assert stored_names(db_copy, visit_id) == ("Eastern Bluebird", "Sialia sialis")

    assert main([*argv, "--as-typed"]) == 0
    assert stored_names(db_copy, visit_id) == ("Xyzzy bird", "")
    assert capsys.readouterr().err == (
        "birdcam: warning: 'Xyzzy bird' is not a species the model knows; stored as typed\n"
    )


def test_a_correction_on_a_database_locked_for_long_is_one_line_and_changes_nothing(db_copy, capsys):
    from sightings_material import LockHolder

    visit_id = ids(db_copy)["Eastern Bluebird"][0]
    before = db_copy.read_bytes()
    with LockHolder(db_copy):
        for argv in (["--relabel", str(visit_id), "Belted Kingfisher"], ["--delete", str(visit_id)]):
            assert main(["sightings", "--db", str(db_copy), *argv]) == 2
            line = error_line(capsys)
            assert f"the sightings database {db_copy} is locked by another program" in line
    assert stored_names(db_copy, visit_id) == ("Eastern Bluebird", "Sialia sialis")
    assert db_copy.read_bytes() == before


def test_dataset_filters_by_day_and_score(recorded, tmp_path, capsys):
    out = tmp_path / "recent"
    assert (
        main(
            [
                "sightings",
                "--db",
                str(recorded),
                "--export-dataset",
                str(out),
                "--since",
                DAY2.date().isoformat(),
                "--min-score",
                "0.5",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["Mandarin Duck", "birds.csv"]
    printed = capsys.readouterr()
    assert "wrote 1 bird crops of 1 species" in printed.out
    assert "note: 1 species have fewer than 3 crops (Mandarin Duck)" in printed.err


def test_csv_export_has_a_row_per_visit(recorded, tmp_path, capsys):
    out = tmp_path / "visits.csv"
    assert main(["sightings", "--db", str(recorded), "--export", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and "exported 8 visits" in capsys.readouterr().out
    assert [r["common_name"] for r in rows[:3]] == ["Belted Kingfisher", "Belted Kingfisher", "Cedar Waxwing"]
    assert rows[6]["count"] == "2" and rows[7]["common_name"] == "" and rows[7]["crop_path"].endswith(".jpg")
    assert float(rows[1]["duration_s"]) == pytest.approx(1.8, abs=0.15)


def test_ebird_export_is_one_row_per_species_per_day_with_the_most_seen_at_once(recorded, tmp_path, capsys):
    out = tmp_path / "ebird.csv"
    assert (
        main(
            [
                "sightings",
                "--db",
                str(recorded),
                "--export",
                str(out),
                "--format",
                "ebird",
                "--location",
                "Back garden feeder",
            ]
        )
        == 0
    )
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert all(len(row) == len(EBIRD_COLUMNS) == 19 for row in rows)
    column = {name: i for i, name in enumerate(EBIRD_COLUMNS)}
    table = {(row[column["Date"]], row[column["Common Name"]]): row for row in rows}
    day1, day2 = DAY1.strftime("%m/%d/%Y"), DAY2.strftime("%m/%d/%Y")
    long_ago = datetime.date.fromtimestamp(DAY1.timestamp() - 400 * 86_400).strftime("%m/%d/%Y")
    assert sorted(table) == sorted(
        [
            (day1, "Belted Kingfisher"),
            (day1, "Cedar Waxwing"),
            (day1, "Eastern Bluebird"),
            (day2, "Mandarin Duck"),
            (long_ago, "Belted Kingfisher"),
        ]
    )  # no unknown bird
    duck = table[(day2, "Mandarin Duck")]
    assert (duck[column["Genus"]], duck[column["Species"]], duck[column["Number"]]) == ("Aix", "galericulata", "2")
    assert duck[column["Location Name"]] == "Back garden feeder" and duck[column["Protocol"]] == "Incidental"
    assert duck[column["Start Time"]] == "09:30"
    waxwing = table[(day1, "Cedar Waxwing")]
    assert waxwing[column["Number"]] == "1" and "2 visits" in waxwing[column["Species Comments"]]
    assert rows[0][0] != "Common Name"  # eBird's import takes no header row


def birdcam(*argv: str) -> subprocess.CompletedProcess:
    """The CLI in a process of its own (the chart makes a QGuiApplication, which must not outlive one test)."""
    return subprocess.run(
        [sys.executable, "-m", "birdcam", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


def test_ebird_comments_name_no_local_folder_nor_stream_password(tmp_path, capsys):
    """The checklist comment listed local file paths (and would have listed a stream's password)."""
    from birdcam.sightings import Visit

    path, t = tmp_path / "sightings.sqlite3", DAY1.timestamp()
    sources = [str(tmp_path / "Videos" / "feeder.mp4"), "rtsp://ana:secret@192.168.1.20:554/stream1", "camera:0"]
    with SightingsDB.open(path) as db:
        for n, source in enumerate(sources):
            db.upsert(Visit(None, t + n, t + n + 5, "Mallard", "Anas platyrhynchos", 0.9, source, "aiy", uid=source))
    out = tmp_path / "ebird.csv"
    assert main(["sightings", "--db", str(path), "--export", str(out), "--format", "ebird"]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        ((*_, comments),) = list(csv.reader(handle))
    assert "camera:0, feeder.mp4, rtsp://192.168.1.20" in comments
    assert str(tmp_path) not in comments and "secret" not in comments and "ana" not in comments


def test_summary_marks_first_sightings_and_the_chart_is_a_readable_png(recorded, tmp_path):
    chart = tmp_path / "chart.png"
    done = birdcam("sightings", "--db", str(recorded), "--summary", "--days", "3", "--chart", str(chart))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    today, day2, day1 = (d.isoformat() for d in (datetime.date.today(), DAY2.date(), DAY1.date()))
    assert lines[0].startswith(f"{today} ") and "no visits" in lines[0]
    at = {line.split()[0]: n for n, line in enumerate(lines) if not line.startswith(" ")}
    assert "2 species, 2 visits" in lines[at[day2]] and "3 species, 5 visits" in lines[at[day1]]
    day2_lines = lines[at[day2] + 1 : at[day1]]
    assert any("Mandarin Duck" in line and "up to 2 at once" in line and "first ever" in line for line in day2_lines)
    assert any("Unknown bird" in line and "first" not in line for line in day2_lines)
    day1_lines = lines[at[day1] + 1 : at[day1] + 4]
    assert (
        any(
            line.split()[:2] == ["Belted", "Kingfisher"] and "2 visits" in line and "first this year" in line
            for line in day1_lines
        )
        or DAY1.year != datetime.date.today().year
    )
    assert any("Cedar Waxwing" in line and "first ever" in line for line in day1_lines)
    assert f"chart: {chart}" in lines[-1]
    image = cv2.imread(str(chart))
    assert image is not None and image.shape[0] > 150 and image.shape[1] > 300
    assert image.std() > 20 and (image < 100).mean() > 0.005  # drawn, with text and filled cells on white

    (tmp_path / "a-file").write_text("not a folder")
    done = birdcam("sightings", "--db", str(recorded), "--summary", "--chart", str(tmp_path / "a-file" / "chart.png"))
    assert done.returncode == 2 and done.stderr.startswith("birdcam: error: cannot write the chart")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--relabel", "999", "Mallard"], "visit 999 does not exist"),
        (["--relabel", "one", "Mallard"], "takes a visit id (a number)"),
        (["--delete", "999"], "visit 999 does not exist"),
        (["--export-dataset", "{full}"], "already exists and is not an empty folder"),
        (["--export-dataset", "{out}", "--since", "31/05/2025"], "--since must be a day like 2025-05-31"),
        (["--export", "{file}/x.csv"], "cannot write"),
        (["--export", "{out}.csv", "--format", "xml"], "--format must be birdcam or ebird"),
        (["--summary", "--days", "0"], "--days must be at least 1"),
        (["--export-dataset", "{out}", "--min-score", "2"], "--min-score must be between 0 and 1"),
        (["--since", "2025-01-01"], "--since goes with --export-dataset"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message, db_copy, tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "something.txt").write_text("mine")
    (tmp_path / "a-file").write_text("not a folder")
    values = {"full": str(full), "out": str(tmp_path / "out"), "file": str(tmp_path / "a-file")}
    code = main(["sightings", "--db", str(db_copy), *(arg.format(**values) for arg in argv)])
    assert code == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "out").exists() and sorted(p.name for p in full.iterdir()) == ["something.txt"]


def test_a_damaged_database_is_one_line_and_even_an_export_leaves_it_untouched(db_copy, tmp_path, capsys):
    damaged = damage(db_copy)
    for argv in ([], ["--export", str(tmp_path / "out.csv")], ["--summary"], ["--delete", "1"]):
        assert main(["sightings", "--db", str(db_copy), *argv]) == 2
        line = error_line(capsys)
        assert "is damaged" in line and "sightings.new.sqlite3" in line
        assert hashlib.sha256(db_copy.read_bytes()).digest() == hashlib.sha256(damaged).digest()
    assert not (tmp_path / "out.csv").exists()


def test_a_read_only_database_is_listed_and_a_correction_says_why_not(recorded, tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copyfile(recorded, folder / "sightings.sqlite3")
    with read_only(folder):
        assert main(["sightings", "--db", str(folder / "sightings.sqlite3")]) == 0
        assert "Mandarin Duck" in capsys.readouterr().out
        assert main(["sightings", "--db", str(folder / "sightings.sqlite3"), "--delete", "1"]) == 2
        assert "is read-only" in error_line(capsys)
