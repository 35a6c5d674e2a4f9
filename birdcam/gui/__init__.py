"""The Qt layer: the pipeline's callbacks as signals, the overlay painter, the main window, its docks and dialogs."""
