"""The scene pass: finding, following and naming every bird in a frame."""
