"""What native libraries print on their own (OpenCV, FFmpeg, libjpeg, LiteRT, TensorFlow), turned down.

A user of the command line should see birdcam's one line, not "moov atom not found" or TensorFlow's
start-up banner before it. `--verbose` leaves everything on.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

_QUIET_ENVIRONMENT = {
    "OPENCV_LOG_LEVEL": "ERROR",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET: read when OpenCV's FFmpeg backend opens its first file
    # TensorFlow's C++ log lines (not those printed while it loads); its errors still raise
    "TF_CPP_MIN_LOG_LEVEL": "3",
}
_stderr_lock = threading.Lock()


def quiet_native_logs() -> None:
    """Turns down the libraries' own logging for this process and its children; a variable the user set wins."""
    user_set_opencv = "OPENCV_LOG_LEVEL" in os.environ
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if not user_set_opencv:
        import cv2.utils.logging

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Sends file descriptor 2 to the null device for the block: for native code that prints there unasked
    (libjpeg's "Corrupt JPEG data", LiteRT's "Created TensorFlow Lite XNNPACK delegate", TensorFlow's
    lines while it loads). Errors still raise. Process-wide, so blocks are serialized by a lock."""
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 2)
                yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
