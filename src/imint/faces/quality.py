"""Face quality: size, sharpness, pose and detector confidence -> a score and a reason.

Quality does two jobs. Poor faces (too small, too blurred, in profile, or doubtful
detections) are stored and shown but flagged, and never used to enroll or to match
automatically. And the quality of the faces compared selects the calibration
table, because a stranger's blurred 30 px face scores differently from a sharp one.
"""

from __future__ import annotations

import cv2
import numpy as np

from imint.faces.models import align_face
from imint.records import Faces

# Below these a face is "poor": stored and shown, never enrolled or matched automatically.
POOR_MIN_EYE_DISTANCE_PX = 7.0
POOR_MIN_DETECTOR_SCORE = 0.55
POOR_MAX_YAW = 0.8  # nose offset from the eye midline, in eye distances (beyond about 60 degrees)
POOR_MIN_SHARPNESS = 0.02

# Quality bins for calibration (upper edges): low < 0.35 <= medium < 0.65 <= high.
QUALITY_BIN_EDGES = (0.35, 0.65)
QUALITY_BINS = ("low", "medium", "high")


def _features(image: np.ndarray, landmarks: np.ndarray) -> tuple[float, float, float]:
    right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_distance = float(np.linalg.norm(left_eye - right_eye))
    eye_axis = (left_eye - right_eye) / max(eye_distance, 1e-6)
    yaw = float(np.dot(nose - (left_eye + right_eye) / 2, eye_axis)) / max(eye_distance, 1e-6)
    # Sharpness on the face at its own resolution, resampled to a fixed 64 px crop so
    # big and small faces are judged on the same scale.
    crop = cv2.cvtColor(align_face(image, landmarks, size=64), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(crop, cv2.CV_32F)
    sharpness = float(lap.var())
    return eye_distance, yaw, sharpness


def assess(image: np.ndarray, faces: Faces) -> tuple[np.ndarray, list[str]]:
    """Return a quality in [0, 1] and a reason for every face."""
    quality = np.zeros(len(faces), np.float32)
    reasons: list[str] = []
    for i in range(len(faces)):
        eye_distance, yaw, sharpness = _features(image, faces.landmarks[i])
        score = float(faces.scores[i])
        parts = {
            "small face": float(np.clip((eye_distance - 6.0) / (36.0 - 6.0), 0, 1)),
            "blurred": float(
                np.clip((np.log(max(sharpness, 1e-3)) - np.log(15.0)) / np.log(400 / 15.0), 0, 1)
            ),
            "turned away": float(np.clip(1 - (abs(yaw) - 0.12) / 0.45, 0, 1)),
            "uncertain detection": float(np.clip((score - 0.5) / 0.4, 0, 1)),
        }
        q = 0.45 * parts["small face"] + 0.25 * parts["blurred"] + 0.2 * parts["turned away"]
        q += 0.1 * parts["uncertain detection"]
        quality[i] = q
        poor = []
        if eye_distance < POOR_MIN_EYE_DISTANCE_PX:
            poor.append(f"eyes {eye_distance:.0f} px apart")
        if score < POOR_MIN_DETECTOR_SCORE:
            poor.append(f"detector score {score:.2f}")
        if abs(yaw) > POOR_MAX_YAW:
            poor.append("profile view")
        if parts["blurred"] <= POOR_MIN_SHARPNESS:
            poor.append("heavily blurred")
        if poor:
            reasons.append("poor: " + ", ".join(poor))
        else:
            weakest = min(parts, key=parts.get)
            label = quality_bin(q)
            reasons.append(label if parts[weakest] >= 0.5 else f"{label}: {weakest}")
    return quality, reasons


def quality_bin(q: float) -> str:
    for edge, name in zip(QUALITY_BIN_EDGES, QUALITY_BINS, strict=False):
        if q < edge:
            return name
    return QUALITY_BINS[-1]


def is_poor(reason: str) -> bool:
    return reason.startswith("poor")
