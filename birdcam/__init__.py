"""birdcam: names bird species live from a camera, a video or the screen."""

__version__ = "0.1.0"
