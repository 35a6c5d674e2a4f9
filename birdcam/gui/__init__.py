"""The Qt layer: inference worker thread, frame pipeline, overlay painter, main window, headless runner."""
