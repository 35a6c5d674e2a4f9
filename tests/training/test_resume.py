"""`birdcam train --resume` after a run killed with SIGKILL: same split, next epoch, optimizer state kept."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from training_data import TINY_VIT

from birdcam.cli import main

STEPS_PER_EPOCH = 6  # 96 training images / batch 16


def _train(*args: str, log, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "birdcam", "train", *args], stdout=log, stderr=subprocess.STDOUT, env=env
    )


def test_a_killed_run_resumes_after_its_last_finished_epoch(shapes_dataset, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "BIRDCAM_MODELS_DIR": str(tmp_path / "models"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    state_file = run / "checkpoints" / "state.json"
    with (tmp_path / "first.log").open("w") as log:
        first = _train(
            "--data",
            str(shapes_dataset),
            "--out",
            str(run),
            *TINY_VIT,
            "--epochs",
            "40",
            "--patience",
            "40",
            "--cache",
            "disk",
            "--batch-size",
            "16",
            "--learning-rate",
            "0.001",
            log=log,
            env=env,
        )
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if state_file.is_file() and json.loads(state_file.read_text())["epochs_done"] >= 2:
                break
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-2000:]
    done = json.loads(state_file.read_text())["epochs_done"]
    assert 2 <= done < 40
    assert not (run / "model.tflite").exists()
    assert any((run / "cache").iterdir())  # decoded images cached on disk

    with (tmp_path / "second.log").open("w") as log:
        second = _train("--resume", str(run), "--epochs", str(done + 2), log=log, env=env)
        assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-2000:]

    output = (tmp_path / "second.log").read_text()
    assert f"after epoch {done} of {done + 2}" in output
    with (run / "log.csv").open(newline="") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == list(range(done + 2))
    with np.load(run / "checkpoints" / "last.optimizer.npz") as optimizer:
        assert int(optimizer["arr_0"]) == (done + 2) * STEPS_PER_EPOCH  # Adam's step count went on, not restarted
    card = json.loads((run / "model.json").read_text())
    assert card["metrics"]["epochs_trained"] == done + 2
    assert (tmp_path / "models" / "run.tflite").is_file()


def test_resume_refuses_changed_settings_and_foreign_folders(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--backbone", "vit_b16"]) == 2
    assert "drop --backbone" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "run.json not found" in capsys.readouterr().err
