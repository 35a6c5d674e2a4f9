"""Runs birdcam from a checkout: `python main.py` opens the window, `python main.py --help` lists commands."""

import sys

from birdcam.cli import main

if __name__ == "__main__":
    sys.exit(main())
