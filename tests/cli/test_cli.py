"""`birdcam predict`, `bench`, `models` and the CLI's error contract, called through main(argv)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from media import read_image, write_video
from terminal import run_in_terminal

from birdcam.cli import main

REPO = Path(__file__).resolve().parents[2]


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_predict_json_on_files_and_folders(starter_model, shared_dir, tmp_path, capsys):
    folder = tmp_path / "photos" / "nested"
    folder.mkdir(parents=True)
    shutil.copy(shared_dir / "images" / "birds" / "mandarin_duck.jpg", folder / "duck.JPG")
    shutil.copy(shared_dir / "images" / "not-birds" / "cat.jpg", tmp_path / "photos" / "cat.jpg")
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "photos" / "notes.txt").write_text("ignored: not an image suffix")
    code = main(
        [
            "predict",
            "--model",
            str(starter_model),
            "--detector",
            str(_detector(shared_dir)),
            "--json",
            "--top-k",
            "2",
            str(tmp_path / "photos"),
        ]
    )
    out, err = capsys.readouterr()
    records = {Path(r["path"]).name: r for r in map(json.loads, _lines(out))}
    assert set(records) == {"broken.jpg", "cat.jpg", "duck.JPG"}
    duck = records["duck.JPG"]
    assert duck["is_bird"] is True
    assert set(duck) == {"path", "is_bird", "top", "birds", "ms"}
    # The top-level fields describe the most confident bird: the Mandarin Duck, boxed by the detector.
    mandarin = duck["birds"][0]
    assert mandarin["scientific_name"] == "Aix galericulata" and mandarin["score"] == duck["top"][0]["score"]
    assert set(mandarin) == {"track", "box", "label", "common_name", "scientific_name", "score", "whole_frame"}
    assert mandarin["whole_frame"] is False
    x, y, w, h = mandarin["box"]
    assert 200 < x + w / 2 < 700 and 250 < y + h / 2 < 700 and w * h < 1024 * 768 / 2
    assert duck["top"][0]["scientific_name"] == "Aix galericulata"
    assert duck["top"][0]["common_name"] == "Mandarin Duck"
    assert set(duck["top"][0]) == {"index", "label", "common_name", "scientific_name", "score"}
    assert len(duck["top"]) == 2 and duck["ms"] > 0
    assert records["cat.jpg"]["is_bird"] is False and records["cat.jpg"]["top"][0]["label"] == "background"
    assert records["cat.jpg"]["birds"] == []
    assert "error" in records["broken.jpg"]
    # The unreadable image is reported on one line, the rest went on, and the exit code says so.
    assert code == 2
    assert _lines(err) == [line for line in _lines(err) if line.startswith("birdcam: error:")]
    assert "broken.jpg" in err and "Traceback" not in err


def _detector(shared_dir: Path) -> Path:
    return shared_dir / "models" / "yolox_nano" / "yolox_nano_float16_quantize.tflite"


def _two_bird_photo(shared_dir: Path, path: Path) -> Path:
    """A Cedar Waxwing and an Asian Dollarbird (a species the starter model does not know) on a real bedroom photo."""
    import bird_scenes
    import cv2

    photos = {f"{p.species}/{p.path.name}": p for p in bird_scenes.sample_photos(shared_dir, set())}
    room = next(p for p in bird_scenes.background_photos(shared_dir) if p.stem == "000000006213")
    shot = bird_scenes.make_shot(
        np.random.default_rng(0),
        room,
        [photos["CEDAR WAXWING/3.jpg"], photos["ASIAN DOLLARD BIRD/1.jpg"]],
        heights=(220, 220),
        positions=[(0.25, 0.5), (0.72, 0.5)],
        noise=0,
    )
    frame, truth = shot.frame(0)
    cv2.imwrite(str(path), frame)
    return path


def test_predict_json_lists_every_bird_in_image_pixels(starter_model, shared_dir, tmp_path, capsys):
    photo = _two_bird_photo(shared_dir, tmp_path / "two birds.png")
    assert (
        main(["predict", "--model", str(starter_model), "--detector", str(_detector(shared_dir)), "--json", str(photo)])
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    assert record["is_bird"] is True
    left, right = sorted(record["birds"], key=lambda bird: bird["box"][0])
    assert left["scientific_name"] == "Bombycilla cedrorum" and left["common_name"] == "Cedar Waxwing"
    # Eurystomus orientalis is not among the model's species: a bird, of a species it does not know.
    assert right["label"] == "bird" and right["scientific_name"] is None and right["common_name"] is None
    assert 0 < right["score"] <= 1
    for bird, centre in ((left, (0.25 * 1280, 360)), (right, (0.72 * 1280, 360))):
        x, y, w, h = bird["box"]
        assert abs(x + w / 2 - centre[0]) < 110 and abs(y + h / 2 - centre[1]) < 110 and 50 < w < 300
    # Most confident first, and the top-level fields are the first bird's.
    assert record["birds"][0] == left
    assert record["top"][0]["scientific_name"] == "Bombycilla cedrorum"
    assert main(["predict", "--model", str(starter_model), "--detector", str(_detector(shared_dir)), str(photo)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{photo}: Cedar Waxwing (Bombycilla cedrorum) ")
    assert [line for line in lines if line.startswith("  + ")] == [
        line for line in lines if line.startswith("  + bird (species not in this model) ")
    ]


def test_predict_json_and_the_headless_log_describe_a_bird_alike(starter_model, shared_dir, tmp_path, capsys):
    """A label with only a scientific name gave "common_name": "Aix galericulata" in the headless log and "" in
    predict --json; both say null now, from one function."""
    model = tmp_path / "embedded" / starter_model.name  # no label file beside it: the scientific names inside it
    model.parent.mkdir()
    shutil.copy(starter_model, model)
    duck = shared_dir / "images" / "birds" / "mandarin_duck.jpg"
    assert main(["predict", "--model", str(model), "--json", str(duck)]) == 0
    predicted = json.loads(capsys.readouterr().out)
    video = write_video(tmp_path / "duck.avi", [read_image(duck)] * 30, fps=15)
    log = tmp_path / "live.jsonl"
    argv = ["live", "--headless", "--no-sightings", "--source", str(video), "--model", str(model), "--log", str(log)]
    assert main(argv) == 0
    logged = [json.loads(line) for line in log.read_text().splitlines()[:-1]]
    birds = [bird for record in logged for bird in record["birds"]]
    assert birds, "the duck was never named in the log"

    def names(record: dict) -> tuple:
        return record["label"], record["common_name"], record["scientific_name"]

    expected = ("Aix galericulata", None, "Aix galericulata")
    assert {names(bird) for bird in birds} == {names(predicted["birds"][0])} == {expected}
    assert names(predicted["top"][0]) == expected
    assert {names(record) for record in logged if record["birds"]} == {expected}  # the line's own fields too
    assert set(birds[0]) == set(predicted["birds"][0])


def _into_a_closed_pipe(*argv: str) -> tuple[int, str]:
    """Runs birdcam with stdout a pipe whose reader is gone before the first line (`birdcam ... | head` once head
    has its lines); (exit code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "birdcam", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    process.stdout.close()
    err = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    return process.wait(120), err


def test_output_into_a_closed_pipe_stops_quietly_and_writes_the_files_first(starter_model, shared_dir, tmp_path):
    """BrokenPipeError tracebacks from predict, models --json and sightings --summary --chart (whose chart was then
    never written)."""
    from birdcam.sightings import SightingsDB, Visit

    photos = tmp_path / "photos"
    photos.mkdir()
    for n in range(3):
        shutil.copy(shared_dir / "images" / "birds" / "mandarin_duck.jpg", photos / f"{n}.jpg")
    database, chart, t = tmp_path / "s.sqlite3", tmp_path / "chart.png", time.time()
    with SightingsDB.open(database) as db:
        db.upsert(Visit(None, t, t + 5, "Mandarin Duck", "Aix galericulata", 0.9, "camera:0", "aiy", uid="a"))
    for argv in (
        ["predict", "--model", str(starter_model), "--json", str(photos)],
        ["models", "--model", str(starter_model), "--json"],
        ["sightings", "--db", str(database), "--summary", "--chart", str(chart)],
    ):
        code, err = _into_a_closed_pipe(*argv)
        assert (code, err) == (141, ""), argv
    assert read_image(chart).shape[0] > 100


def test_predict_without_a_detector_to_be_had_warns_once_and_goes_on(starter_model, shared_dir, capsys, monkeypatch):
    monkeypatch.delenv("BIRDCAM_DETECTOR")  # the default detector: not cached, and downloads are off
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    assert main(["predict", "--model", str(starter_model), "--json", duck]) == 0
    out, err = capsys.readouterr()
    assert _lines(err) == [line for line in _lines(err) if line.startswith("birdcam: warning: no detector yet")]
    assert len(_lines(err)) == 1 and "whole-frame mode" in err
    (bird,) = json.loads(out)["birds"]
    assert bird["scientific_name"] == "Aix galericulata"
    assert bird["box"] == [128, 0, 768, 768]  # the whole-frame pass: the centre crop the classifier saw
    assert main(["predict", "--model", str(starter_model), "--detector", "none", duck]) == 0
    assert capsys.readouterr().err == ""


def test_predict_text_output_and_threshold(starter_model, shared_dir, capsys):
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    assert main(["predict", "--model", str(starter_model), duck]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{duck}: Mandarin Duck (Aix galericulata) ")
    assert main(["predict", "--model", str(starter_model), "--threshold", "0.99", duck]) == 0
    assert "no bird" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "--model", "{missing}", "x.jpg"], "model file not found"),
        (["predict", "--model", "{invalid}", "{duck}"], "cannot run"),
        (["predict", "--model", "{text}", "{duck}"], "not a TFLite model"),
        (
            ["predict", "--model", "{starter}", "--labels", "{text}", "{duck}"],
            "1 classes but the model has 965 outputs",
        ),
        (["bench", "--model", "{starter}", "--source", "{missing}"], "bench source not found"),
        (["predict", "--model", "{starter}", "--detector", "{text}", "{duck}"], "not a TFLite model"),
        (["predict", "--model", "{starter}", "--detector", "{missing}", "{duck}"], "detector file not found"),
        (["bench", "--model", "{starter}", "--detector", "{starter}"], "not a detector birdcam can read"),
        (["predict", "--top-k", "0", "{duck}"], "must be 1 or more"),
        (["predict", "--threshold", "1.5", "{duck}"], "between 0 and 1"),
        (["predict", "--model", "{starter}", "--allow", "{missing}", "{duck}"], "species list not found"),
        (["predict", "--model", "{starter}", "--deny", "{duck}", "{duck}"], "is a JPEG image, not text"),
        (["predict", "--model", "{starter}", "--allow", "{starter}", "{duck}"], "is a TFLite model, not text"),
        (["predict", "--model", "{starter}", "--deny", "{folder}", "{duck}"], "is a folder, not a species list"),
        (["bench", "--model", "{starter}", "--allow", "{empty}"], "names no species"),
        (["bench", "--model", "{starter}", "--allow", "{unknown}"], "none of the 1 species in the allow list"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message, starter_model, shared_dir, tmp_path, capsys):
    text = tmp_path / "words.tflite"
    text.write_text("hello")
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    (tmp_path / "unknown.txt").write_text("Wattled Curassow\n")
    values = {
        "folder": str(tmp_path),
        "empty": str(tmp_path / "empty.txt"),
        "unknown": str(tmp_path / "unknown.txt"),
        "missing": str(tmp_path / "missing.tflite"),
        "invalid": str(shared_dir / "models" / "invalid" / "model_invoking_error.tflite"),
        "text": str(text),
        "starter": str(starter_model),
        "duck": str(shared_dir / "images" / "birds" / "mandarin_duck.jpg"),
    }
    assert main([arg.format(**values) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    if argv[0] != "predict" or "--model" in argv:
        assert len(_lines(err)) == 1


def test_with_an_allow_list_no_species_off_the_list_is_a_runner_up(starter_model, shared_dir, tmp_path, capsys):
    """With an allow list, the runners-up were species not on it, at 0.0%."""
    allow = tmp_path / "allow.txt"
    allow.write_text("Mandarin Duck\nWood Duck\nMallard\n")
    allowed = {"Aix galericulata", "Aix sponsa", "Anas platyrhynchos"}
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    argv = ["predict", "--model", str(starter_model), "--allow", str(allow), "--top-k", "5"]
    assert main([*argv, "--json", duck]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["top"][0]["common_name"] == "Mandarin Duck"
    assert {c["scientific_name"] for c in record["top"]} <= allowed and all(c["score"] > 0 for c in record["top"])
    assert main([*argv, duck]) == 0
    first, *runners_up = capsys.readouterr().out.splitlines()
    assert first.startswith(f"{duck}: Mandarin Duck") and not [line for line in runners_up if " 0.0%" in line]
    assert all(any(name in line for name in allowed) for line in runners_up)


def test_predict_with_allow_and_deny_lists(starter_model, shared_dir, tmp_path, capsys):
    sample = shared_dir / "birds525-sample"
    with (sample / "birds.csv").open(newline="", encoding="utf-8") as table:
        species = sorted({row["scientific name"] for row in csv.DictReader(table)})
    allow = tmp_path / "allow.txt"
    allow.write_text("# the sample's species\n" + "\n".join(species) + "\nNothing Bird  # a typo\n", encoding="utf-8")
    fulmar = str(sample / "valid" / "NORTHERN FULMAR" / "2.jpg")
    assert main(["predict", "--model", str(starter_model), "--json", fulmar]) == 0
    assert json.loads(capsys.readouterr().out)["top"][0]["scientific_name"] != "Fulmarus glacialis"
    assert main(["predict", "--model", str(starter_model), "--json", "--allow", str(allow), fulmar]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["top"][0]["scientific_name"] == "Fulmarus glacialis"
    # One warning line names what the model does not know, and the run goes on.
    assert _lines(err) == [
        "birdcam: warning: the model does not know 5 of the 26 species listed "
        "(CALLIPHLOX AMETHYSTINA, CRAX GLOBULOSA, EURYSTOMUS ORIENTALIS and 2 more); they are ignored"
    ]
    deny = tmp_path / "deny.txt"
    deny.write_text("mandarin duck\n", encoding="utf-8")
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    assert main(["predict", "--model", str(starter_model), "--json", "--top-k", "5", "--deny", str(deny), duck]) == 0
    out, err = capsys.readouterr()
    assert "Aix galericulata" not in {c["scientific_name"] for c in json.loads(out)["top"]} and err == ""
    assert (
        main(
            [
                "bench",
                "--model",
                str(starter_model),
                "--frames",
                "3",
                "--json",
                "--allow",
                str(allow),
                "--deny",
                str(deny),
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["frames"] == 3


def test_predict_shows_progress_only_on_a_terminal(starter_model, shared_dir):
    folder = str(shared_dir / "birds525-sample" / "valid")
    args = ["predict", "--model", str(starter_model), "--json", folder]
    watched = run_in_terminal(args, stdout=False, stderr=True)
    assert watched.code == 0, watched.terminal
    frames = watched.terminal.split("\r")
    assert "predict: 0/125 images" in frames
    assert any(re.fullmatch(r"predict: 125/125 images, [\d.]+/s, 0:00 left *", frame) for frame in frames)
    assert frames[-1] == "" and frames[-2].strip() == ""  # cleared at the end
    # The JSON records on the pipe are untouched by it.
    records = [json.loads(line) for line in watched.stdout.splitlines()]
    assert len(records) == 125 and "\r" not in watched.stdout
    piped = run_in_terminal(args, stdout=False, stderr=False)
    assert piped.code == 0
    assert piped.stderr == "" and piped.terminal == ""  # piped: not a character of progress
    assert _without_timings(piped.stdout) == _without_timings(watched.stdout)


def _without_timings(json_lines: str) -> list[dict]:
    """The records minus their milliseconds, which differ from run to run."""
    return [{k: v for k, v in json.loads(line).items() if k != "ms"} for line in json_lines.splitlines()]


def test_verbose_shows_the_traceback(tmp_path, capsys):
    assert main(["--verbose", "predict", "--model", str(tmp_path / "gone.tflite"), "x.jpg"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_bench_json(starter_model, shared_dir, capsys):
    assert (
        main(
            [
                "bench",
                "--model",
                str(starter_model),
                "--detector",
                str(_detector(shared_dir)),
                "--frames",
                "20",
                "--threads",
                "1",
                "--json",
            ]
        )
        == 0
    )
    figures = json.loads(capsys.readouterr().out)
    assert set(figures) == {
        "model",
        "detector",
        "threads",
        "frames",
        "invoke_ms_median",
        "invoke_ms_p95",
        "end_to_end_ms_median",
        "end_to_end_ms_p95",
        "fps",
        "detector_ms_mean",
        "classifier_ms_mean",
        "scene_ms_mean",
        "scene_ms_median",
        "scene_ms_p95",
        "scene_fps",
    }
    assert figures["threads"] == 1 and figures["frames"] == 20
    assert figures["detector"] == str(_detector(shared_dir))
    assert 0 < figures["invoke_ms_median"] <= figures["invoke_ms_p95"]
    assert figures["invoke_ms_median"] < figures["end_to_end_ms_median"] <= figures["end_to_end_ms_p95"]
    assert 1000 / figures["end_to_end_ms_p95"] <= figures["fps"]
    # The whole pass: the detector and the whole-frame classifier take turns, and the rest costs little.
    assert figures["detector_ms_mean"] > 0 and figures["classifier_ms_mean"] > 0
    assert figures["detector_ms_mean"] + figures["classifier_ms_mean"] <= figures["scene_ms_mean"]
    assert figures["scene_ms_mean"] == pytest.approx(1000 / figures["scene_fps"], rel=0.01)
    assert figures["scene_ms_median"] <= figures["scene_ms_p95"] and figures["scene_fps"] < figures["fps"]
    assert main(["bench", "--model", str(starter_model), "--detector", "none", "--frames", "10", "--json"]) == 0
    whole_frame = json.loads(capsys.readouterr().out)
    assert whole_frame["detector"] is None and whole_frame["detector_ms_mean"] == 0


def test_bench_on_a_video(starter_model, shared_dir, tmp_path, capsys):
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    video = write_video(tmp_path / "clip.avi", [duck] * 12)
    assert main(["bench", "--model", str(starter_model), "--source", str(video), "--frames", "24"]) == 0
    out = capsys.readouterr().out
    assert "24 frames of 320x240" in out and "frames/s" in out


def test_models_explains_the_choice(starter_model, capsys):
    assert main(["models", "--model", str(starter_model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["origin"] == "--model"
    assert info["input"] == "uint8 [1, 224, 224, 3]"
    assert info["classes"] == 965 and info["background_index"] == 964
    assert info["labels"].endswith("labels.txt")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "none yet" in out and "downloads the starter model" in out


def test_models_picks_a_trained_model(starter_model, capsys):
    from birdcam import paths

    trained = paths.models_dir() / "my-run.tflite"
    trained.write_bytes(starter_model.read_bytes())
    (paths.models_dir() / "my-run.labels.txt").write_text((starter_model.parent / "labels.txt").read_text())
    (paths.models_dir() / "my-run.json").write_text(json.dumps({"threshold": 0.42}))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert str(trained) in out and "birdcam train" in out
    assert "0.42 (calibrated" in out and "my-run.labels.txt" in out


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("predict", "bench", "models"):
        assert command in out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("birdcam ")
    assert main(["no-such-command"]) == 2


def test_predict_imports_neither_tensorflow_nor_qt(starter_model, shared_dir):
    script = (
        "import sys\n"
        "from birdcam.cli import main\n"
        f"code = main(['predict', '--model', {str(starter_model)!r}, "
        f"{str(shared_dir / 'images' / 'birds' / 'mandarin_duck.jpg')!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'PySide6'))\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_module_and_main_py_entry_points(starter_model, shared_dir):
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    for entry in (["-m", "birdcam"], [str(REPO / "main.py")]):
        done = subprocess.run(
            [sys.executable, *entry, "predict", "--model", str(starter_model), duck],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "Mandarin Duck" in done.stdout


def test_normalization_flag_for_float_models(tiny, tmp_path, capsys):
    import cv2
    import tiny_models

    # The raw-pixel model without its card: only the flag can tell the engine how to feed it.
    bare = tmp_path / "raw.tflite"
    bare.write_bytes(tiny["raw"].read_bytes())
    labels = tmp_path / "raw.labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    image = tmp_path / "blue.png"
    cv2.imwrite(str(image), np.full((24, 32, 3), tiny_models.COLOURS_RGB[2][::-1], np.uint8))
    assert main(["predict", "--model", str(bare), "--json", "--normalization", "0", "1", str(image)]) == 0
    flagged = json.loads(capsys.readouterr().out)
    assert flagged["top"][0]["label"] == "blue" and flagged["top"][0]["score"] > 0.9
    assert main(["predict", "--model", str(bare), "--json", str(image)]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["top"][0]["score"] < flagged["top"][0]["score"] - 0.3


def test_model_given_before_the_command_is_kept(starter_model, shared_dir, capsys):
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    assert main(["--model", str(starter_model), "predict", "--json", duck]) == 0
    assert json.loads(capsys.readouterr().out)["top"][0]["common_name"] == "Mandarin Duck"
    assert main(["--model", str(starter_model), "models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["origin"] == "--model"


# -- one line for every kind of bad input ------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["predict", "--top-k", "0", "x.jpg"],
            "argument --top-k: must be 1 or more, not 0; see `birdcam predict --help`.",
        ),
        (
            ["predict", "--top-k", "two", "x.jpg"],
            "argument --top-k: must be a whole number, not 'two'; see `birdcam predict --help`.",
        ),
        (["predict"], "the following arguments are required: PATH; see `birdcam predict --help`."),
        (["bench", "--threads", "0"], "argument --threads: must be 1 or more, not 0; see `birdcam bench --help`."),
        (["models", "--frames", "3"], "unrecognized arguments: --frames 3; see `birdcam --help`."),
        (
            ["live", "--max-frames", "many"],
            "argument --max-frames: invalid int value: 'many'; see `birdcam live --help`.",
        ),
        (["sightings", "--limit"], "argument --limit: expected one argument; see `birdcam sightings --help`."),
        (
            ["train", "--quantize", "int4"],
            "argument --quantize: invalid choice: 'int4'",
        ),  # then the choices, quoted by Python's version
        (["evaluate", "--data", "d"], "the following arguments are required: --model; see `birdcam evaluate --help`."),
        (["compare"], "the following arguments are required: RUN_DIR; see `birdcam compare --help`."),
        (["no-such-command"], "argument COMMAND: invalid choice: 'no-such-command'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(argv, message, capsys):
    code = main(argv)

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("birdcam: error: ") and message in err
    assert err.endswith("--help`.\n")


def test_help_still_prints_usage(capsys):
    for argv in (["predict", "--help"], ["train", "--help"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: birdcam {argv[0]} ") and "--help" in out


def test_a_folder_given_where_a_file_belongs_is_called_a_folder(
    starter_model, shared_dir, tmp_path, monkeypatch, capsys
):
    duck = str(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    model_folder = starter_model.parent
    cases = [
        (
            ["predict", "--model", str(model_folder), duck],
            f"--model {model_folder} is a folder, not a model file; give the .tflite file, e.g. {starter_model}.",
        ),
        (
            ["predict", "--model", str(starter_model), "--labels", str(tmp_path), duck],
            f"--labels {tmp_path} is a folder; give the label file (one label per line).",
        ),
        (
            ["bench", "--model", str(starter_model), "--source", str(tmp_path)],
            f"bench source {tmp_path} is a folder; give an image or video file.",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err, err

    monkeypatch.setenv("BIRDCAM_MODEL", str(model_folder))
    assert main(["models"]) == 2
    assert f"BIRDCAM_MODEL points to the folder {model_folder}, not a model file" in capsys.readouterr().err


def test_models_says_when_birdcam_model_points_nowhere(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIRDCAM_MODEL", str(tmp_path / "gone.tflite"))

    code = main(["models"])

    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (
        f"birdcam: error: BIRDCAM_MODEL points to {tmp_path / 'gone.tflite'}, which does not exist. Fix or unset it.\n"
    )


# -- no native noise before birdcam's line --------------------------------------------------------


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -m birdcam ARGS` in a child process: what a user sees on the console, native output included."""
    return subprocess.run(
        [sys.executable, "-m", "birdcam", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_a_truncated_video_is_one_line_without_ffmpeg_noise(starter_model, shared_dir, tmp_path):
    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    video = write_video(tmp_path / "clip.mp4", [duck] * 30, codec="mp4v")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # the index (moov atom) is at the end

    done = _cli("bench", "--model", str(starter_model), "--source", str(truncated))

    assert done.returncode == 2
    assert done.stderr == f"birdcam: error: {truncated} is neither an image nor a video OpenCV can read.\n"


def test_a_damaged_jpeg_gives_a_result_or_one_line_without_libjpeg_noise(starter_model, shared_dir, tmp_path):
    photo = (shared_dir / "images" / "birds" / "mandarin_duck.jpg").read_bytes()
    cut_short = tmp_path / "cut_short.jpg"  # decodes, grey at the bottom; libjpeg warns "Corrupt JPEG data"
    cut_short.write_bytes(photo[: len(photo) // 2] + b"\xff\xd9")
    header_only = tmp_path / "header_only.jpg"
    header_only.write_bytes(photo[:600])

    done = _cli("predict", "--model", str(starter_model), str(cut_short), str(header_only))

    assert done.returncode == 2
    assert done.stdout.startswith(f"{cut_short}: Mandarin Duck")
    assert done.stderr == f"birdcam: error: {header_only} is not an image OpenCV can decode\n"


def test_naming_a_huge_jpeg_keeps_memory_bounded(starter_model, shared_dir, tmp_path):
    from huge_jpeg import write_grey_jpeg

    huge = write_grey_jpeg(tmp_path / "huge.jpg", 20000, 20000)
    full_decode_bytes = 20000 * 20000 * 3
    script = (
        "import resource, sys\n"
        "from birdcam.cli import main\n"
        f"code = main(['predict', '--model', {str(starter_model)!r}, '--json', sys.argv[1]])\n"
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, code)\n"
    )

    def peak_rss(image: Path) -> int:
        done = subprocess.run(
            [sys.executable, "-c", script, str(image)], capture_output=True, text=True, cwd=REPO, timeout=120
        )
        peak, code = done.stdout.splitlines()[-1].split()[1:]
        assert code == "0", done.stderr
        return int(peak)

    baseline = peak_rss(shared_dir / "images" / "birds" / "mandarin_duck.jpg")
    growth = peak_rss(huge) - baseline

    assert growth < full_decode_bytes / 10, f"{growth / 1e6:.0f} MB more than for a 1024x768 photo"


def test_boxes_of_a_photo_over_4096_pixels_are_in_its_own_pixels(starter_model, shared_dir, tmp_path, capsys):
    """A 5120x3840 photo is decoded at half size; its boxes came out in the half-size pixels."""
    import cv2

    duck = read_image(shared_dir / "images" / "birds" / "mandarin_duck.jpg")  # 1024x768
    half, large = tmp_path / "duck-2560.jpg", tmp_path / "duck-5120.jpg"  # the second is decoded as the first
    cv2.imwrite(str(half), cv2.resize(duck, (2560, 1920), interpolation=cv2.INTER_CUBIC))
    cv2.imwrite(str(large), cv2.resize(duck, (5120, 3840), interpolation=cv2.INTER_CUBIC))
    boxes = {}
    for photo in (half, large):
        argv = ["predict", "--model", str(starter_model), "--detector", str(_detector(shared_dir))]
        assert main([*argv, "--json", str(photo)]) == 0
        boxes[photo] = np.array(json.loads(capsys.readouterr().out)["birds"][0]["box"], float)
        assert main([*argv, str(photo)]) == 0  # the text says the same
        x, y, w, h = (int(v) for v in boxes[photo])
        assert f" at {x},{y} {w}x{h}" in capsys.readouterr().out.splitlines()[0]
    assert np.abs(boxes[large] - 2 * boxes[half]).max() < 0.05 * 2 * boxes[half][2:].max(), boxes
    x, y, w, h = boxes[large]
    assert w > 1000 and x + w / 2 > 2000 and y + h / 2 > 2000, "the duck's middle, in 5120x3840 pixels"
