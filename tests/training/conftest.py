"""Fixtures of the trainer's tests: a generated, learnable image set and one tiny run trained on it.

`shared_dir` (the real photos and the starter model) comes from tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from terminal import terminal_streams
from training_data import TINY_VIT, make_shapes_dataset

SHAPES_EPOCHS = 8


@pytest.fixture(scope="session")
def shapes_dataset(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def shapes_run(shapes_dataset, tmp_path_factory) -> dict:
    """`birdcam train` once on the shapes: {"code", "run", "card", "models", "terminal", "log"}; models/ is a folder
    of its own.

    It runs as `birdcam train > log` would in a terminal: stdout ("log") is not a terminal, stderr is
    ("terminal": what a person there saw). TensorFlow's CPU kernels sum in a thread-dependent order, so two
    runs with the same seed end with slightly different models; with op determinism on, this run gives the
    same model every time, and the tests that check its exports (int8 agreement on near-ties) cannot flake.
    """
    import tensorflow as tf

    from birdcam.cli import main

    tf.config.experimental.enable_op_determinism()

    folder = tmp_path_factory.mktemp("shapes-run")
    models = folder / "models"
    with pytest.MonkeyPatch.context() as patch, terminal_streams(stdout=False, stderr=True) as seen:
        patch.setenv("BIRDCAM_MODELS_DIR", str(models))
        code = main(
            [
                "train",
                "--data",
                str(shapes_dataset),
                "--out",
                str(folder / "run"),
                *TINY_VIT,
                "--epochs",
                str(SHAPES_EPOCHS),
                "--batch-size",
                "16",
                "--learning-rate",
                "0.001",
            ]
        )
    run = folder / "run"
    card = json.loads((run / "model.json").read_text(encoding="utf-8")) if (run / "model.json").is_file() else {}
    return {"code": code, "run": run, "card": card, "models": models, "terminal": seen.terminal, "log": seen.stdout}
