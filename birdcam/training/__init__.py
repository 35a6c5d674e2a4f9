"""Training, evaluation and export. Imports TensorFlow lazily: only `birdcam train` and friends load it."""
