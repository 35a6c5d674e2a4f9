"""A full disk while training or installing: one line, nothing half-written left behind, `--resume` finishes the job.

Two ways to fill a disk without privileges: `shutil.disk_usage` reporting little free space (what the
trainer checks before it writes), and RLIMIT_FSIZE in a child process, which makes the write itself
fail with a real OSError (EFBIG) as a full disk fails it with ENOSPC.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from training_data import TINY_VIT, make_shapes_dataset

from birdcam.cli import main

SMALL = {"train": 8, "valid": 2, "test": 2}
NO_QUANTIZE = ["--quantize", "none"]
"""These runs are about the disk: an untrained tiny model's near-tied classes let weight quantization flip answers
(agreement with Keras under 99% ends the run with code 1, as tests/training/test_train.py checks)."""


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _epochs_logged(run: Path) -> list[int]:
    with (run / "log.csv").open(newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_a_checkpoint_that_would_not_fit_stops_the_run_in_one_line_and_resume_goes_on(tmp_path, monkeypatch, capsys):
    data = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    real_disk_usage = shutil.disk_usage
    saved_before_the_disk_filled = {}

    def filling_up(path):
        """The disk of the run folder fills up once the first epoch is saved."""
        usage = real_disk_usage(path)
        if (checkpoints / "state.json").exists() and Path(path).is_relative_to(run):
            saved_before_the_disk_filled.update(_files(checkpoints))
            return usage._replace(free=50_000)
        return usage

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "disk_usage", filling_up)
        code = main(
            [
                "train",
                "--data",
                str(data),
                "--out",
                str(run),
                *TINY_VIT,
                "--epochs",
                "3",
                "--batch-size",
                "16",
                *NO_QUANTIZE,
            ]
        )

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"birdcam: error: not enough space in {checkpoints}: ") and len(err.splitlines()) == 1, err
    assert err.endswith(f"Free some space, then run `birdcam train --resume {run}`; it continues with epoch 2.\n")
    assert json.loads((checkpoints / "state.json").read_text())["epochs_done"] == 1
    assert _files(checkpoints) == saved_before_the_disk_filled  # the last good checkpoint, untouched
    assert not [p for p in run.rglob("*") if ".partial" in p.name]

    assert main(["train", "--resume", str(run)]) == 0  # space freed
    assert "resuming" in capsys.readouterr().err
    assert _epochs_logged(run) == [0, 1, 2]
    assert (run / "model.tflite").is_file()


WRITES_FAIL_AFTER_THE_FIRST_EPOCH = """
import resource, signal, sys
from birdcam.training import run as trainer
from birdcam.cli import main

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
save_epoch = trainer.RunCheckpoint.on_epoch_end

def on_epoch_end(self, epoch, logs=None):
    if epoch == 1:  # from the second epoch on, no file may grow past 20 kB: writes fail as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
    return save_epoch(self, epoch, logs)

trainer.RunCheckpoint.on_epoch_end = on_epoch_end
sys.exit(main(sys.argv[1:]))
"""


def test_a_checkpoint_write_that_fails_is_one_line_not_a_crash(tmp_path, capsys):
    # Keras's HDF5 writer segfaulted the whole process when the disk filled up mid-write (rc -11).
    data = make_shapes_dataset(tmp_path / "data", sizes=SMALL)
    run = tmp_path / "run"
    env = {**os.environ, "BIRDCAM_MODELS_DIR": str(tmp_path / "models")}
    args = [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        *TINY_VIT,
        "--epochs",
        "3",
        "--batch-size",
        "16",
        *NO_QUANTIZE,
    ]

    done = subprocess.run(
        [sys.executable, "-c", WRITES_FAIL_AFTER_THE_FIRST_EPOCH, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )

    assert done.returncode == 2, done.stderr[-3000:]  # was -11: a segfault in HDF5, a half file left behind
    assert done.stderr.splitlines()[-1] == (  # before it, only TensorFlow's start-up lines (imported before main)
        f"birdcam: error: cannot save the checkpoint of epoch 2 in {run / 'checkpoints'}: File too large. "
        f"Free some space, then run `birdcam train --resume {run}`; it continues with epoch 2."
    )
    assert "Traceback" not in done.stderr
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epochs_done"] == 1
    assert not [p for p in run.rglob("*") if ".partial" in p.name]

    assert main(["train", "--resume", str(run)]) == 0
    capsys.readouterr()
    assert _epochs_logged(run) == [0, 1, 2]


def test_an_export_or_install_onto_a_full_disk_keeps_the_old_model_and_resume_finishes_it(
    shapes_run, tmp_path, monkeypatch, capsys
):
    from birdcam.training import export

    models = Path(os.environ["BIRDCAM_MODELS_DIR"])
    export.install(shapes_run["run"], "older", models)
    before = _files(models)
    run = tmp_path / "birds"
    shutil.copytree(shapes_run["run"], run)
    exported = _files(run)
    real_disk_usage = shutil.disk_usage

    def full(folder: Path):
        def disk_usage(path):
            usage = real_disk_usage(path)
            return usage._replace(free=1000) if Path(path).is_relative_to(folder) else usage

        return disk_usage

    with monkeypatch.context() as patch:  # the run's disk is full: the export stops before writing
        patch.setattr(shutil, "disk_usage", full(run))
        code = main(["train", "--resume", str(run)])

    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[-1].startswith(f"birdcam: error: not enough space in {run}: ")
    assert err[-1].endswith(f"Free some space, then run `birdcam train --resume {run}` to export the model.")
    assert {name: data for name, data in _files(run).items() if name.startswith(("model.", "checkpoints"))} == {
        name: data for name, data in exported.items() if name.startswith(("model.", "checkpoints"))
    }
    assert not [p for p in run.rglob("*") if ".partial" in p.name or ".export-" in str(p)]
    assert _files(models) == before

    with monkeypatch.context() as patch:  # now models/ is full: the install stops before writing
        patch.setattr(shutil, "disk_usage", full(models))
        code = main(["train", "--resume", str(run)])

    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err[-1].startswith(f"birdcam: error: not enough space in {models}: ")
    assert err[-1].endswith(
        f"Free some space, then run `birdcam train --resume {run}` "
        "to install the model (the installed models are unchanged)."
    )
    assert [line for line in err if not line.startswith("resuming ")] == err[-1:]
    assert _files(models) == before

    assert main(["train", "--resume", str(run)]) == 0  # space freed
    assert f"installed: {models / 'birds.tflite'}" in capsys.readouterr().out
    assert (models / "birds.tflite").read_bytes() == (run / "model.tflite").read_bytes()
    assert {name: data for name, data in _files(models).items() if name.startswith("older.")} == before
