"""--distribute mirrored on two logical CPU devices (a separate process: devices are fixed when TensorFlow starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from training_data import TINY_VIT

TWO_CPUS = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from birdcam.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_mirrored_training_uses_both_devices_and_learns(shapes_dataset, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "BIRDCAM_MODELS_DIR": str(tmp_path / "models"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [
        "train",
        "--data",
        str(shapes_dataset),
        "--out",
        str(run),
        *TINY_VIT,
        "--epochs",
        "5",
        "--batch-size",
        "16",
        "--learning-rate",
        "0.001",
        "--distribute",
        "mirrored",
        "--no-install",
    ]

    done = subprocess.run([sys.executable, "-c", TWO_CPUS, *args], capture_output=True, text=True, env=env, timeout=300)

    assert done.returncode == 0, done.stdout[-1500:] + done.stderr[-1500:]
    card = json.loads((run / "model.json").read_text(encoding="utf-8"))
    assert card["replicas"] == 2
    assert card["metrics"]["best_val_accuracy"] >= 0.9
    assert card["keras_agreement"] >= 0.99
    assert not (tmp_path / "models").exists()
