"""1:1 verification: is the main face of one photo the same person as that of another?"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imint.errors import BadInputError
from imint.faces.analysis import analyze_evidence, choose_face, embedding_of
from imint.faces.calibration import DEFAULT_FMR
from imint.faces.quality import is_poor
from imint.faces.results import FaceComparison
from imint.media.ingest import log_custody

if TYPE_CHECKING:
    from imint.faces.service import FaceService


def verify(faces: FaceService, a: str | Path, b: str | Path, *, fmr: float = DEFAULT_FMR) -> FaceComparison:
    """Compare the largest face of photo ``a`` with the largest face of photo ``b``."""
    ws = faces.ws
    picked = []
    with ws.session() as s:
        for p in (a, b):
            faces.share_image_hash(s, Path(p))
            ev = ws.ingest(p, source=str(p), session=s)
            rows, _ = analyze_evidence(faces, s, ev)
            face = choose_face(rows, "largest", ev)
            if face is None:
                raise BadInputError("no face found", subject=p)
            picked.append(face)
            log_custody(s, ev.sha256, "verified-face", ws.user, model=faces.model_id)
    fa, fb = picked
    score = float(np.dot(embedding_of(fa), embedding_of(fb)))
    cal = faces.calibration
    threshold = cal.threshold_for_fmr(fmr, fa.quality, fb.quality)
    poor = is_poor(fa.quality_reason) or is_poor(fb.quality_reason)
    return FaceComparison(
        score=score,
        fmr=cal.fmr(score, fa.quality, fb.quality),
        same_person=bool(score >= threshold and not poor),
        threshold=threshold,
        operating_point=f"fmr={fmr:g}",
        quality_a=fa.quality,
        quality_b=fb.quality,
        reason_a=fa.quality_reason,
        reason_b=fb.quality_reason,
    )
