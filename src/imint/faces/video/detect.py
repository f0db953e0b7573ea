"""Faces of one video frame: detection, quality, the crops that embedding and best shots need."""

from __future__ import annotations

import cv2
import numpy as np

from imint.faces.engine import FaceEngine
from imint.faces.models import YuNetDetector, refine_tiny_landmarks
from imint.faces.quality import assess
from imint.records import Faces

DEFAULT_DETECT_MAX_SIDE = 960  # YuNet at 960 px finds 24 px faces of a 1080p frame at a quarter of the cost


def detect_frame(engine: FaceEngine, rgb: np.ndarray, max_side: int = DEFAULT_DETECT_MAX_SIDE) -> Faces:
    """Faces of one video frame: detection on a shrunk copy, quality on the full frame."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    # Bilinear for shrinking by up to 2 (720p and 1080p to 960 px): its 2 x 2 footprint covers the
    # pixels an area filter would average, at a quarter of the cost.
    interpolation = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    small = (
        cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=interpolation)
        if scale < 1
        else rgb
    )
    detector = engine.detector
    yunet = isinstance(detector, YuNetDetector)
    # No padded second look at face-less frames (it helps tight photo crops, not video), and
    # tiny faces' landmarks are refined below, on the full frame rather than the shrunk copy.
    faces = (
        detector.detect(small, pad_retry=False, refine_landmarks=False) if yunet else detector.detect(small)
    )
    if scale < 1 and len(faces):
        faces.boxes = faces.boxes / scale
        faces.landmarks = faces.landmarks / scale
    if yunet:
        refine_tiny_landmarks(rgb, faces)
    faces.quality, faces.quality_reason = assess_on_crops(rgb, faces)
    faces.model_id = engine.model_id
    return faces


def assess_on_crops(rgb: np.ndarray, faces: Faces) -> tuple[np.ndarray, list[str]]:
    """``quality.assess`` face by face on a region around each face, not on the whole frame.

    Judging a large face's sharpness shrinks the image it is given as a whole, which is slow
    on a 1080p frame. The region (a 75 % margin) holds everything the 64 px alignment
    samples, so only the resampling grid differs.
    """
    quality = np.zeros(len(faces), np.float32)
    reasons: list[str] = []
    for i in range(len(faces)):
        x1, y1, x2, y2 = _crop_box(rgb.shape, faces.boxes[i])
        q, r = assess(rgb[y1:y2, x1:x2], _shifted(faces.select([i]), np.array([x1, y1], np.float32)))
        quality[i] = q[0]
        reasons.append(r[0])
    return quality, reasons


def _crop_box(shape: tuple[int, ...], box: np.ndarray) -> tuple[int, int, int, int]:
    """The region around a face with a 75 % margin, clipped to the frame: ``x1, y1, x2, y2``."""
    h, w = shape[:2]
    x1, y1, x2, y2 = box
    margin = 0.75 * max(x2 - x1, y2 - y1)
    return (
        int(max(0, x1 - margin)),
        int(max(0, y1 - margin)),
        int(min(w, x2 + margin)),
        int(min(h, y2 + margin)),
    )


def face_crop(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region around a face that embedding needs (75 % margin), and its top-left corner."""
    x1, y1, x2, y2 = _crop_box(rgb.shape, box)
    return np.ascontiguousarray(rgb[y1:y2, x1:x2]), np.array([x1, y1], np.float32)


def _shifted(one: Faces, offset: np.ndarray) -> Faces:
    """One face moved into the coordinates of a crop whose top-left corner is ``offset``."""
    one.boxes = one.boxes - np.tile(offset, 2)
    one.landmarks = one.landmarks - offset
    return one


def embed_faces(engine: FaceEngine, rgb: np.ndarray, faces: Faces) -> np.ndarray:
    """Embed faces one crop at a time: the embedders upsample whole images for small faces,
    which on a 1080p frame costs seconds; a crop with a wide margin gives the same vector."""
    out = np.zeros((len(faces), engine.embedder.dim), np.float32)
    for i in range(len(faces)):
        crop, offset = face_crop(rgb, faces.boxes[i])
        out[i] = engine.embed(crop, _shifted(faces.select([i]), offset)).embeddings[0]
    return out


def best_shot_jpeg(rgb: np.ndarray, box: np.ndarray, size: int = 160) -> bytes:
    """A square crop around a face (30 % margin), as JPEG bytes for the contact sheet."""
    x1, y1, x2, y2 = box
    side = 1.3 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = rgb.shape[:2]
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    crop = rgb[b:d, a:c]
    if crop.size == 0:
        crop = np.zeros((size, size, 3), np.uint8)
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else b""
