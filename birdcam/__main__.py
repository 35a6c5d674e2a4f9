import sys

from birdcam.cli import main

sys.exit(main())
