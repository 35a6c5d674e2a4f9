"""The public API: every name in birdcam.__all__ imports, and `import birdcam` alone stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import birdcam

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", birdcam.__all__)
def test_every_public_name_imports(name):
    namespace: dict = {}
    exec(f"from birdcam import {name}", namespace)
    assert namespace[name] is getattr(birdcam, name)
    assert name in dir(birdcam)


def test_a_name_not_in_the_api_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Classifer'"):
        birdcam.Classifer  # noqa: B018


def test_import_birdcam_loads_neither_opencv_nor_litert():
    code = (
        "import json, sys; import birdcam; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('cv2', 'ai_edge_litert', 'numpy'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(done.stdout) == []
    # Asking for a model class is what loads them.
    code = "import sys, birdcam; birdcam.Classifier; print('cv2' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "True"
