"""The Qt layer: inference worker thread, frame pipeline, overlay painter, main window, headless runner."""

from birdcam.gui import qtfix  # noqa: F401  (first: keeps PySide6 6.12 from freeing None on Python 3.11)
