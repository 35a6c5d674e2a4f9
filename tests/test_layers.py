"""The import contract: each stage imports only the stages below it, Qt only in the GUI, TensorFlow only in the
trainer, LiteRT never in the GUI. Read from the source (every import, at any depth), so a lazy import counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "birdcam"

BASE = {"errors", "paths", "util", "birdcam"}
"""What every stage may import (`birdcam` itself: the version)."""
ALLOWED = {
    "util": {"errors", "paths", "util", "birdcam"},
    "models": BASE | {"models"},
    "scene": BASE | {"models", "scene"},
    "sightings": BASE | {"models", "scene", "sightings"},
    "live": BASE | {"models", "scene", "sightings", "live"},
    "training": BASE | {"models", "training"},
    "gui": BASE | {"models", "scene", "sightings", "live", "gui"},
}
"""Stage -> the birdcam stages its modules may import. The CLI (and birdcam/__init__, __main__) may import any."""
QT = ("PySide6", "shiboken6")
TENSORFLOW = ("tensorflow", "keras", "vit_keras", "tf_keras")
LITERT_MODULES = ("ai_edge_litert", "birdcam.models.litert", "birdcam.models.classifier", "birdcam.models.detector")


def imports_of(path: Path) -> list[str]:
    """Every module a file imports, absolute, at any depth (inside functions too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def stage_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def stage_named(module: str) -> str:
    """`birdcam.scene.tracker` -> "scene", `birdcam.errors` -> "errors", `birdcam.__version__` -> "birdcam"."""
    parts = module.split(".")
    if len(parts) > 1 and ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return parts[1]
    return "birdcam"


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_contract_sees_every_stage():
    stages = {stage_of(path) for path in modules()} - {None}
    assert stages == set(ALLOWED) | {"cli"}, "a new stage needs its place in ALLOWED"


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_imports_only_what_its_stage_may(path):
    stage = stage_of(path)
    names = imports_of(path)
    if stage != "gui":
        assert not [name for name in names if name.startswith(QT)], "Qt outside birdcam/gui"
    else:
        assert not [name for name in names if name.startswith(LITERT_MODULES)], "the GUI runs no model itself"
    if stage != "training":
        assert not [name for name in names if name.split(".")[0] in TENSORFLOW], "TensorFlow outside the trainer"
    if stage in ALLOWED:
        reached = {stage_named(name) for name in names if name.split(".")[0] == "birdcam"}
        assert reached <= ALLOWED[stage], f"{stage} reaches {sorted(reached - ALLOWED[stage])}"
