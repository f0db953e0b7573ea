"""Labelled face folders laid out like ``../shared/data/faces``.

``manifest.csv`` (path, identity, source), ``pairs.csv`` and ``ident.csv`` (path,
identity, role); paths are relative to the folder. Which face of a photo is the
labelled one depends on the source: the face nearest the centre for LFW crops,
the largest face for full-size photos.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imint.errors import BadInputError


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    rel: str
    identity: str
    source: str

    @property
    def labelled_face_rule(self) -> str:
        return "center" if self.source.startswith("lfw") else "largest"


@dataclass
class FaceFolder:
    root: Path
    images: list[LabelledImage]
    ident: list[tuple[str, str, str]]  # (rel path, identity, role)


def _read_rows(path: Path, required: set[str]) -> list[dict[str, str]]:
    """The rows of a CSV file that has the ``required`` columns, every required cell present."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = set(reader.fieldnames or ())
            if missing := required - columns:
                raise BadInputError(f"lacks columns {sorted(missing)}", subject=path)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        # Found by tests/test_fuzz_eval.py: a file in another encoding, or a cell over csv's field limit.
        raise BadInputError(f"not a readable UTF-8 CSV file ({exc})", subject=path) from exc
    for line, row in enumerate(rows, start=2):
        if any(row.get(c) is None for c in required):
            raise BadInputError(f"row {line} has fewer cells than the header", subject=path)
    return rows


def read_face_folder(root: str | Path, limit: int | None = None) -> FaceFolder:
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.exists():
        raise BadInputError("no manifest.csv: not a labelled face folder", subject=root)
    rows = _read_rows(manifest, {"path", "identity"})
    images = [LabelledImage(root / r["path"], r["path"], r["identity"], r.get("source") or "") for r in rows]
    if limit:
        images = images[:limit]
    kept = {i.rel for i in images}
    ident: list[tuple[str, str, str]] = []
    if (root / "ident.csv").exists():
        rows = _read_rows(root / "ident.csv", {"path", "identity", "role"})
        ident = [(r["path"], r["identity"], r["role"]) for r in rows if r["path"] in kept]
    return FaceFolder(root, images, ident)


def pick_labelled(boxes: np.ndarray, width: int, height: int, rule: str) -> int | None:
    """Index of the labelled face among detected boxes (x1, y1, x2, y2), or None."""
    if len(boxes) == 0:
        return None
    if rule == "center":
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        return int(np.argmin(((centres - [width / 2, height / 2]) ** 2).sum(1)))
    return int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))


def in_fit_half(identity: str) -> bool:
    """Identities whose SHA-1 is even fit the calibration; the others check it."""
    return hashlib.sha1(identity.encode()).digest()[0] % 2 == 0


def identity_split(identity: str) -> str:
    """Which use a dev identity is reserved for, by the first byte of the SHA-1 of its name.

    "embedder" (a quarter: byte % 4 == 0) trains the field network, "calibration" (byte % 4 == 2)
    fits the score calibration, "check" (odd bytes, half) is held back from both to check them.
    """
    byte = hashlib.sha1(identity.encode()).digest()[0]
    return "check" if byte % 2 else "embedder" if byte % 4 == 0 else "calibration"
