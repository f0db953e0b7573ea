"""The records that flow between imint's parts.

Inside an analyzer, batch work uses arrays: ``Faces`` holds every face of one
image as numpy arrays (like supervision's ``Detections``); ``Detections`` does the
same for objects in a scene. ``Evidence`` is what every file becomes on ingest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Evidence:
    """One ingested file: content-addressed, never modified."""

    sha256: str
    kind: str  # "image", "video", "raster", "document"
    original_name: str
    stored_path: str  # absolute path of the original in the object store
    size_bytes: int
    media_type: str
    metadata: dict[str, Any] = field(default_factory=dict)
    added_at: str = ""
    added_by: str = ""
    source: str = ""
    is_new: bool = True  # False when the same bytes had been ingested before


@dataclass
class Faces:
    """All faces of one image (or one video frame) as parallel arrays.

    ``boxes`` are ``x1, y1, x2, y2`` in pixels of the original image;
    ``landmarks`` are 5 points (right eye, left eye, nose, mouth right, mouth left)
    as ``(n, 5, 2)``; ``embeddings`` are L2-normalised rows, empty until embedded.
    """

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 5, 2), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    quality: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    quality_reason: list[str] = field(default_factory=list)
    embeddings: np.ndarray | None = None
    model_id: str = ""

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __iter__(self) -> Iterator[Face]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, i: int) -> Face:
        return Face(
            box=tuple(float(v) for v in self.boxes[i]),
            landmarks=self.landmarks[i].copy(),
            score=float(self.scores[i]),
            quality=float(self.quality[i]) if len(self.quality) else float("nan"),
            quality_reason=self.quality_reason[i] if self.quality_reason else "",
            embedding=None if self.embeddings is None else self.embeddings[i].copy(),
            model_id=self.model_id,
        )

    def select(self, mask: np.ndarray | list[int]) -> Faces:
        idx = np.asarray(mask)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Faces(
            boxes=self.boxes[idx],
            landmarks=self.landmarks[idx],
            scores=self.scores[idx],
            quality=self.quality[idx] if len(self.quality) else self.quality,
            quality_reason=[self.quality_reason[i] for i in idx] if self.quality_reason else [],
            embeddings=None if self.embeddings is None else self.embeddings[idx],
            model_id=self.model_id,
        )

    @property
    def widths(self) -> np.ndarray:
        return self.boxes[:, 2] - self.boxes[:, 0]


@dataclass
class Face:
    """One face: what crosses from an analyzer into the store and the outputs."""

    box: tuple[float, ...]
    landmarks: np.ndarray
    score: float
    quality: float = float("nan")
    quality_reason: str = ""
    embedding: np.ndarray | None = None
    model_id: str = ""
    evidence_sha256: str | None = None
    frame_time: float | None = None  # seconds into a video; None for photos

    @property
    def is_poor(self) -> bool:
        return self.quality_reason.startswith("poor")


@dataclass(frozen=True)
class Candidate:
    """A face's possible identity: a candidate until a person confirms it."""

    person_id: int
    person_name: str
    score: float
    fmr: float  # calibrated false-match rate of one comparison at this score and quality
    rank: int
    operating_point: str  # e.g. "fpir=0.01"
    above_threshold: bool
    status: str = "candidate"
    # The stored candidate (a row of the faces part's ``matches``): what review, the routes
    # ``/candidates/{id}`` and claim links ``candidate:ID`` name. None until it is stored.
    id: int | None = None


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b`` (``x1, y1, x2, y2``)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Detections:
    """Objects found in one scene as parallel arrays (boxes in pixels)."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_names: list[str] = field(default_factory=list)
    detector_id: str = ""

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def select(self, mask: np.ndarray | list[int]) -> Detections:
        idx = np.asarray(mask)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return Detections(
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            class_names=[self.class_names[i] for i in idx],
            detector_id=self.detector_id,
        )

    @classmethod
    def empty(cls, detector_id: str = "") -> Detections:
        return cls(detector_id=detector_id)


@dataclass
class Detection:
    """One object in one scene, as stored and exported.

    ``geometry`` is a GeoJSON geometry in EPSG:4326 when the scene is
    georeferenced, else None (pixel coordinates only).
    """

    scene_sha256: str
    class_name: str
    score: float
    box: tuple[float, float, float, float]
    detector_id: str
    geometry: dict[str, Any] | None = None
