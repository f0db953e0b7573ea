"""Review: the candidates search stored (a face's possible identity) and people's decisions on them.

A candidate is a row of ``matches``; its id is what ``/candidates/{id}``, ``imint confirm ID``
and claim links ``candidate:ID`` name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imint.errors import NotFoundError, ValidationError
from imint.faces.gallery import gallery_lock
from imint.faces.tables import FaceRow, Match, Person
from imint.media.ingest import log_custody
from imint.store.db import utcnow

if TYPE_CHECKING:
    from imint.workspace import Workspace

STATUSES = ("candidate", "confirmed", "rejected")


def candidate_dict(
    m: Match, person_name: str, face: FaceRow | None = None, sha256: str = ""
) -> dict[str, Any]:
    """A stored candidate as review lists and pages show it."""
    return {
        "id": m.id,
        "match_id": m.id,  # the name ``imint candidates --json`` has always used
        "face_id": m.face_id,
        "person_id": m.person_id,
        "person": person_name,
        "score": m.score,
        "fmr": m.fmr,
        "rank": m.rank,
        "operating_point": m.operating_point,
        "status": m.status,
        "decided_by": m.decided_by,
        "decided_at": m.decided_at,
        "note": m.note,
        "evidence_sha256": face.evidence_sha256 if face is not None else sha256,
        "frame_time": face.frame_time if face is not None else None,
        "quality_reason": face.quality_reason if face is not None else "",
        "created_at": m.created_at,
    }


def _candidates(s: Session, *where: Any, limit: int | None = None) -> list[dict[str, Any]]:
    q = (
        select(Match, Person.name, FaceRow)
        .join(Person, Person.id == Match.person_id)
        .join(FaceRow, FaceRow.id == Match.face_id)
        .where(*where)
        .order_by(Match.fmr, Match.id)
    )
    if limit is not None:
        q = q.limit(limit)
    return [candidate_dict(m, name, face) for m, name, face in s.execute(q).all()]


def list_matches(ws: Workspace, status: str | None = "candidate", *, limit: int | None = None) -> list[dict]:
    """Stored candidates (with ``status``, or all for None), strongest (lowest FMR) first."""
    with ws.session() as s:
        return _candidates(s, *([Match.status == status] if status else []), limit=limit)


def person_candidates(ws: Workspace, person_id: int, limit: int = 500) -> list[dict[str, Any]]:
    """A person's candidates that nobody rejected, strongest first."""
    with ws.session() as s:
        return _candidates(s, Match.person_id == person_id, Match.status != "rejected", limit=limit)


def get_candidate(ws: Workspace, candidate_id: int) -> dict[str, Any]:
    with ws.session() as s:
        found = _candidates(s, Match.id == candidate_id)
    if not found:
        raise NotFoundError("no such candidate", subject=f"candidate {candidate_id}")
    return found[0]


def decide(ws: Workspace, candidate_id: int, status: str, note: str = "") -> dict[str, Any]:
    """Confirm or reject a candidate (or put it back); records who and when, and a custody entry."""
    if status not in STATUSES:
        raise ValidationError("status must be confirmed, rejected or candidate", subject=status)
    with gallery_lock(ws), ws.session() as s:
        m = s.get(Match, candidate_id)
        if m is None:
            raise NotFoundError("no such match", subject=str(candidate_id))
        m.status = status
        m.decided_by = ws.user
        m.decided_at = utcnow()
        m.note = note
        face = s.get(FaceRow, m.face_id)
        log_custody(
            s,
            face.evidence_sha256,
            f"match-{status}",
            ws.user,
            match_id=candidate_id,
            person_id=m.person_id,
        )
        return {"match_id": m.id, "status": m.status, "decided_by": m.decided_by, "decided_at": m.decided_at}


# -- claim links: the evidence a face or a candidate stands on --------------------------------
def face_evidence(session: Session, face_id: int) -> str | None:
    face = session.get(FaceRow, face_id)
    return face.evidence_sha256 if face else None


def candidate_evidence(session: Session, candidate_id: int) -> str | None:
    match = session.get(Match, candidate_id)
    return face_evidence(session, match.face_id) if match else None


# -- an evidence file's faces --------------------------------------------------------------------
def face_dict(f: FaceRow) -> dict[str, Any]:
    return {
        "id": f.id,
        "evidence_sha256": f.evidence_sha256,
        "frame_time": f.frame_time,
        "box": [f.x1, f.y1, f.x2, f.y2],
        "det_score": f.det_score,
        "quality": f.quality,
        "quality_reason": f.quality_reason,
        "model_id": f.model_id,
        "cluster_id": f.cluster_id,
    }


def evidence_faces(ws: Workspace, sha256: str) -> list[dict[str, Any]]:
    """The faces found in one evidence file, each with its stored candidates (by rank)."""
    with ws.session() as s:
        faces = list(s.scalars(select(FaceRow).where(FaceRow.evidence_sha256 == sha256).order_by(FaceRow.id)))
        rows = s.execute(
            select(Match, Person.name)
            .join(Person, Person.id == Match.person_id)
            .where(Match.face_id.in_([f.id for f in faces]))
            .order_by(Match.face_id, Match.rank)
        ).all()
        by_face: dict[int, list[dict[str, Any]]] = {}
        for m, name in rows:
            by_face.setdefault(m.face_id, []).append(_evidence_candidate(m, name, sha256))
        return [{**face_dict(f), "candidates": by_face.get(f.id, [])} for f in faces]


def _evidence_candidate(m: Match, name: str, sha256: str) -> dict[str, Any]:
    # The evidence page's JSON has always listed these keys for a candidate, no more.
    full = candidate_dict(m, name, sha256=sha256)
    for key in ("match_id", "frame_time", "quality_reason"):
        full.pop(key)
    return full
