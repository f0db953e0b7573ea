"""Face crops for pages: a stored face cut out of its photo, or out of its video frame."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from imint.errors import BadInputError, NotFoundError
from imint.faces.tables import FaceRow
from imint.store.models import EvidenceRow

if TYPE_CHECKING:
    from imint.workspace import Workspace


def padded_face_jpeg(image: np.ndarray, box: list[float], size: int = 160) -> bytes:
    """A thumbnail of a face with a quarter of its size as margin, as JPEG bytes."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    pad = 0.25 * max(x2 - x1, y2 - y1)
    cx1, cy1 = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    cx2, cy2 = min(w, int(x2 + pad)), min(h, int(y2 + pad))
    if cx2 <= cx1 or cy2 <= cy1:
        raise BadInputError("the face box lies outside the image", subject="box")
    crop = Image.fromarray(image[cy1:cy2, cx1:cx2])
    crop.thumbnail((size, size))
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _frame_at(ws: Workspace, sha256: str, t: float) -> Any:
    """The upright video frame at ``t`` seconds (face boxes of videos are in its pixels)."""
    try:
        from imint.media.frames import iter_frames
    except ImportError:  # a build without video support
        raise NotFoundError("video frames cannot be read in this build", subject=sha256) from None
    for frame in iter_frames(ws.object_path(sha256), fps=60.0, start=max(0.0, t - 0.02), end=t + 1.0):
        if frame.time >= t - 0.02:
            return frame.rgb
    raise NotFoundError(f"no frame at {t:.2f} s", subject=sha256)


def face_crop_jpeg(ws: Workspace, face_id: int) -> bytes:
    """A JPEG crop around a stored face (from its video frame when it was found in a video)."""
    with ws.session() as s:
        face = s.get(FaceRow, face_id)
        if face is None:
            raise NotFoundError("no such face", subject=f"face {face_id}")
        ev = s.get(EvidenceRow, face.evidence_sha256)
        if ev is None:
            raise NotFoundError("no evidence with this hash", subject=face.evidence_sha256)
        box, sha, frame_time, kind = [face.x1, face.y1, face.x2, face.y2], ev.sha256, face.frame_time, ev.kind
    if kind == "video" and frame_time is not None:
        image = _frame_at(ws, sha, frame_time)
    else:
        image = ws.read_image(ws.evidence(sha))
    return padded_face_jpeg(image, box)
