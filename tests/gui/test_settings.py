"""The window's saved settings read back as the inference process takes them, even when the file was edited."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from birdcam.gui.settings import WindowSettings
from birdcam.live.inference import LiveSettings


def test_the_live_settings_come_back_as_saved_and_a_threshold_out_of_range_is_the_models_own(tmp_path):
    qsettings = QSettings(str(tmp_path / "birdcam.ini"), QSettings.Format.IniFormat)
    settings = WindowSettings(qsettings)
    assert settings.live == LiveSettings()
    settings.live = LiveSettings(threshold=0.45, smoothing=False, still_camera=True)
    assert settings.live == LiveSettings(threshold=0.45, smoothing=False, still_camera=True)
    qsettings.setValue("threshold", 5.0)  # a hand-edited file: LiveSettings refuses it, the window must not
    assert settings.live.threshold is None
