"""A photo's faces, analysed once per (file, model) and stored; re-runs reuse them by hash."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from imint.errors import BadInputError
from imint.faces.tables import FaceRow, FaceScan

if TYPE_CHECKING:
    from imint.faces.service import FaceService
    from imint.records import Evidence, Faces


def embedding_of(row: FaceRow) -> np.ndarray:
    return np.frombuffer(row.embedding, dtype=np.float32) if row.embedding else np.zeros(0, np.float32)


def analyze_evidence(faces: FaceService, session: Session, evidence: Evidence) -> tuple[list[FaceRow], bool]:
    """Faces of an image evidence, computed once and reused by hash afterwards (True when reused)."""
    scan = session.get(FaceScan, (evidence.sha256, faces.model_id))
    if scan is not None:
        rows = session.scalars(
            select(FaceRow)
            .where(FaceRow.evidence_sha256 == evidence.sha256, FaceRow.model_id == faces.model_id)
            .where(FaceRow.frame_time.is_(None))
            .order_by(FaceRow.id)
        ).all()
        return list(rows), True
    if evidence.kind != "image":
        raise BadInputError(f"not a photo (detected as {evidence.kind})", subject=evidence.original_name)
    # In a server this is a worker process's result (``imint.faces.pool``); elsewhere this process's engine.
    found = faces.analyze_photo(evidence)
    return store_analysis(session, evidence, found, faces.model_id), False


def store_analysis(session: Session, evidence: Evidence, found: Faces, model_id: str) -> list[FaceRow]:
    """Store the faces of a photo analysed elsewhere (e.g. in a worker process) and mark it scanned."""
    rows = store_faces(session, evidence.sha256, found, model_id)
    session.add(FaceScan(evidence_sha256=evidence.sha256, model_id=model_id, n_faces=len(rows)))
    session.flush()
    return rows


def store_faces(
    session: Session, sha256: str, found: Faces, model_id: str, frame_time: float | None = None
) -> list[FaceRow]:
    rows = []
    for i in range(len(found)):
        row = FaceRow(
            evidence_sha256=sha256,
            frame_time=frame_time,
            x1=float(found.boxes[i, 0]),
            y1=float(found.boxes[i, 1]),
            x2=float(found.boxes[i, 2]),
            y2=float(found.boxes[i, 3]),
            landmarks=found.landmarks[i].round(2).tolist(),
            det_score=float(found.scores[i]),
            quality=float(found.quality[i]),
            quality_reason=found.quality_reason[i],
            embedding=found.embeddings[i].astype(np.float32).tobytes()
            if found.embeddings is not None
            else None,
            model_id=model_id,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def choose_face(rows: list[FaceRow], how: str, evidence: Evidence) -> FaceRow | None:
    """The largest face (``how="largest"``) or the one nearest the image centre (``"center"``)."""
    if not rows:
        return None
    if how == "center":
        w = float(evidence.metadata.get("width") or max(r.x2 for r in rows))
        h = float(evidence.metadata.get("height") or max(r.y2 for r in rows))
        return min(rows, key=lambda r: ((r.x1 + r.x2) / 2 - w / 2) ** 2 + ((r.y1 + r.y2) / 2 - h / 2) ** 2)
    return max(rows, key=lambda r: (r.x2 - r.x1) * (r.y2 - r.y1))
