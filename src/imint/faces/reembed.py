"""Re-embedding a workspace's photos with another face model (``imint reembed``).

Vectors of two models are not comparable, and every query (search, find, clustering, the reference
index) reads only the rows of its own model id: after a change of the default model, faces stored under
an older one would silently drop out. ``reembed`` re-analyses each stored photo original with the
service's model and writes new rows under its model id. The old rows stay as the record of the old
analysis (claims may cite them); what people decided moves to the new face when the two map one-to-one:

- a new face and an old face of the same photo map when each is the other's best box IoU, at least
  ``MIN_IOU`` (the detector may move a box by a fraction of a pixel, or find one face more or less);
- reference photos (enrollments), candidates and their decisions, cluster membership and
  must-link/cannot-link constraints of a mapped old face are re-pointed to its new face;
- links of an old face that maps to nothing are left where they are and reported.

One transaction per photo (new rows, scan mark, re-pointed links, custody entry): a kill loses at most
the photo under way, and a re-run skips photos already analysed with the model, so it resumes where it
stopped and running it twice changes nothing. Video frames are not re-embedded (their faces come from
a tracker run); the report counts the videos to scan again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, or_, select

from imint.errors import ImintError
from imint.faces.analysis import store_analysis
from imint.faces.tables import ClusterConstraint, FaceRow, FaceScan, Match, ReferencePhoto
from imint.media.ingest import log_custody
from imint.records import box_iou

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from imint.faces.service import FaceService
    from imint.records import Evidence

MIN_IOU = 0.5


@dataclass
class ReembedReport:
    model_id: str
    photos_to_do: int = 0  # photos analysed with another model only, when the run started
    photos_done: int = 0
    # Photos searched with the current model before the run: their old faces' links were carried.
    photos_relinked: int = 0
    photos_failed: list[str] = field(default_factory=list)  # "file: reason"
    faces_old: int = 0
    faces_new: int = 0
    faces_mapped: int = 0
    carried: dict[str, int] = field(
        default_factory=lambda: {"references": 0, "candidates": 0, "clusters": 0, "constraints": 0}
    )
    # Old faces holding links that map to no new face: "face ID (file): 2 references, 1 candidate".
    not_carried: list[str] = field(default_factory=list)
    videos_not_reembedded: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def other_model_faces(service: FaceService) -> dict[str, int]:
    """Faces of photos analysed only with models other than the service's, per model id: what its
    search, find and clustering do not see until ``reembed`` has run."""
    done = select(FaceScan.evidence_sha256).where(FaceScan.model_id == service.model_id)
    with service.ws.session() as s:
        rows = s.execute(
            select(FaceRow.model_id, func.count())
            .where(
                FaceRow.model_id != service.model_id,
                FaceRow.frame_time.is_(None),
                FaceRow.evidence_sha256.not_in(done),
            )
            .group_by(FaceRow.model_id)
        ).all()
    return {m: int(n) for m, n in rows}


def photos_to_reembed(session: Session, model_id: str) -> list[str]:
    """SHA-256 of photos analysed with another model and not yet with ``model_id``, oldest scan first."""
    done = select(FaceScan.evidence_sha256).where(FaceScan.model_id == model_id)
    rows = session.execute(
        select(FaceScan.evidence_sha256, func.min(FaceScan.scanned_at))
        .where(FaceScan.model_id != model_id, FaceScan.evidence_sha256.not_in(done))
        .group_by(FaceScan.evidence_sha256)
        .order_by(func.min(FaceScan.scanned_at), FaceScan.evidence_sha256)
    ).all()
    return [sha for sha, _ in rows]


def map_faces(old_boxes: np.ndarray, new_boxes: np.ndarray, min_iou: float = MIN_IOU) -> dict[int, int]:
    """Old index -> new index for boxes that are each other's best IoU match, at least ``min_iou``."""
    if len(old_boxes) == 0 or len(new_boxes) == 0:
        return {}
    iou = box_iou(old_boxes, new_boxes)
    best_new, best_old = iou.argmax(axis=1), iou.argmax(axis=0)
    return {i: int(j) for i, j in enumerate(best_new) if best_old[j] == i and iou[i, j] >= min_iou}


def _links(session: Session, face_id: int) -> dict[str, int]:
    refs = session.scalar(select(func.count()).where(ReferencePhoto.face_id == face_id)) or 0
    matches = session.scalar(select(func.count()).where(Match.face_id == face_id)) or 0
    constraints = (
        session.scalar(
            select(func.count()).where(
                or_(ClusterConstraint.face_a == face_id, ClusterConstraint.face_b == face_id)
            )
        )
        or 0
    )
    return {"references": refs, "candidates": matches, "constraints": constraints}


def _carry(session: Session, old: FaceRow, new: FaceRow, report: ReembedReport) -> list[str]:
    """Re-point everything people decided about ``old`` to ``new`` (same photo, same face).

    Returns what stayed with ``old`` because ``new`` already holds the same link (two old models' faces
    mapped onto one new face)."""
    kept: list[str] = []
    for ref in list(session.scalars(select(ReferencePhoto).where(ReferencePhoto.face_id == old.id))):
        taken = session.scalar(
            select(ReferencePhoto.id).where(
                ReferencePhoto.face_id == new.id, ReferencePhoto.person_id == ref.person_id
            )
        )
        if taken is None:
            ref.face_id = new.id
            report.carried["references"] += 1
        else:
            kept.append(f"reference {ref.id}")
    for match in list(session.scalars(select(Match).where(Match.face_id == old.id))):
        taken = session.scalar(
            select(Match.id).where(Match.face_id == new.id, Match.person_id == match.person_id)
        )
        if taken is None:
            match.face_id = new.id
            report.carried["candidates"] += 1
        else:
            kept.append(f"candidate {match.id}")
    either = or_(ClusterConstraint.face_a == old.id, ClusterConstraint.face_b == old.id)
    constraints = list(session.scalars(select(ClusterConstraint).where(either)))
    for c in constraints:
        a, b = (new.id if f == old.id else f for f in (c.face_a, c.face_b))
        taken = session.scalar(
            select(ClusterConstraint.id).where(ClusterConstraint.face_a == a, ClusterConstraint.face_b == b)
        )
        if taken is None:
            c.face_a, c.face_b = a, b
            other = b if a == new.id else a
            # Counted once both of its faces are the new model's (the other photo may come later).
            report.carried["constraints"] += session.get(FaceRow, other).model_id == new.model_id
        else:
            kept.append(f"cluster constraint {c.id}")
    if old.cluster_id is not None and new.cluster_id is None:
        new.cluster_id, old.cluster_id = old.cluster_id, None
        report.carried["clusters"] += 1
    session.flush()
    return kept


def _describe(links: dict[str, int], in_cluster: bool) -> str:
    parts = [f"{n} {kind}" for kind, n in links.items() if n]
    return ", ".join(parts + (["cluster membership"] if in_cluster else []))


def _carry_photo(
    s: Session, evidence: Evidence, new_rows: list[FaceRow], model_id: str, report: ReembedReport
) -> tuple[list[list[int]], list[int], int, int]:
    """Map a photo's old faces onto its faces of ``model_id`` and carry their links.

    Returns the (old, new) id pairs that carried something, the old faces whose links stayed, the
    number of old faces and how many of them mapped onto a new one."""
    old_rows = list(
        s.scalars(
            select(FaceRow)
            .where(
                FaceRow.evidence_sha256 == evidence.sha256,
                FaceRow.model_id != model_id,
                FaceRow.frame_time.is_(None),
            )
            .order_by(FaceRow.id)
        )
    )
    new_boxes = np.array([[r.x1, r.y1, r.x2, r.y2] for r in new_rows]).reshape(-1, 4)
    mapped: list[list[int]] = []
    lost: list[int] = []
    n_mapped = 0
    for model in sorted({r.model_id for r in old_rows}):
        rows = [r for r in old_rows if r.model_id == model]
        pairs = map_faces(np.array([[r.x1, r.y1, r.x2, r.y2] for r in rows]), new_boxes)
        for i, old in enumerate(rows):
            links = _links(s, old.id)
            in_cluster = old.cluster_id is not None
            if i in pairs:
                n_mapped += 1
                new = new_rows[pairs[i]]
                if any(links.values()) or in_cluster:
                    mapped.append([old.id, new.id])
                kept = _carry(s, old, new, report)
                if kept:
                    lost.append(old.id)
                    report.not_carried.append(
                        f"face {old.id} ({evidence.original_name}, {model}): {', '.join(kept)} "
                        f"(face {new.id} already holds the same)"
                    )
            elif any(links.values()) or in_cluster:
                lost.append(old.id)
                report.not_carried.append(
                    f"face {old.id} ({evidence.original_name}, {model}): {_describe(links, in_cluster)}"
                )
    return mapped, lost, len(old_rows), n_mapped


def reembed_photo(service: FaceService, sha256: str, report: ReembedReport) -> None:
    """Analyse one stored photo with ``service``'s model and carry its old faces' links, in one transaction."""
    ws = service.ws
    evidence = ws.evidence(sha256)
    found = service.engine.analyze(ws.read_image(evidence))
    with ws.session() as s:
        if s.get(FaceScan, (sha256, service.model_id)) is not None:
            return  # another run got here first
        new_rows = store_analysis(s, evidence, found, service.model_id)
        mapped, lost, n_old, n_mapped = _carry_photo(s, evidence, new_rows, service.model_id, report)
        log_custody(
            s,
            sha256,
            "faces-reembedded",
            ws.user,
            model=service.model_id,
            faces=len(new_rows),
            links_carried=mapped,
            links_not_carried=lost,
        )
        report.faces_old += n_old
        report.faces_mapped += n_mapped
        report.faces_new += len(new_rows)
    report.photos_done += 1


def relink_photo(service: FaceService, sha256: str, report: ReembedReport) -> None:
    """A photo already analysed with ``service``'s model (searched after the change of default, before
    ``reembed``): carry its old faces' links to the faces stored then, in one transaction."""
    ws = service.ws
    evidence = ws.evidence(sha256)
    with ws.session() as s:
        new_rows = list(
            s.scalars(
                select(FaceRow)
                .where(
                    FaceRow.evidence_sha256 == sha256,
                    FaceRow.model_id == service.model_id,
                    FaceRow.frame_time.is_(None),
                )
                .order_by(FaceRow.id)
            )
        )
        mapped, lost, _, _ = _carry_photo(s, evidence, new_rows, service.model_id, report)
        if mapped:
            log_custody(
                s,
                sha256,
                "face-links-carried",
                ws.user,
                model=service.model_id,
                links_carried=mapped,
                links_not_carried=lost,
            )
            report.photos_relinked += 1


def photos_to_relink(session: Session, model_id: str) -> list[str]:
    """Photos analysed with ``model_id`` whose faces of other models still hold links (references,
    candidates, cluster membership or constraints)."""
    done = select(FaceScan.evidence_sha256).where(FaceScan.model_id == model_id)
    linked = or_(
        FaceRow.cluster_id.is_not(None),
        FaceRow.id.in_(select(ReferencePhoto.face_id)),
        FaceRow.id.in_(select(Match.face_id)),
        FaceRow.id.in_(select(ClusterConstraint.face_a)),
        FaceRow.id.in_(select(ClusterConstraint.face_b)),
    )
    rows = session.scalars(
        select(FaceRow.evidence_sha256)
        .where(
            FaceRow.model_id != model_id,
            FaceRow.frame_time.is_(None),
            FaceRow.evidence_sha256.in_(done),
            linked,
        )
        .distinct()
        .order_by(FaceRow.evidence_sha256)
    )
    return list(rows)


def reembed(
    service: FaceService, *, progress: Callable[[int, int, str], None] | None = None
) -> ReembedReport:
    """Re-embed every photo stored under another model with ``service``'s model (see the module)."""
    from imint.faces.video.tables import VideoScan

    ws = service.ws
    report = ReembedReport(model_id=service.model_id)
    with ws.session() as s:
        todo = photos_to_reembed(s, service.model_id)
        current = select(VideoScan.evidence_sha256).where(VideoScan.model_id == service.model_id)
        report.videos_not_reembedded = int(
            s.scalar(
                select(func.count(func.distinct(VideoScan.evidence_sha256))).where(
                    VideoScan.model_id != service.model_id, VideoScan.evidence_sha256.not_in(current)
                )
            )
            or 0
        )
    report.photos_to_do = len(todo)
    with ws.session() as s:
        relink = photos_to_relink(s, service.model_id)
    for sha256 in relink:
        relink_photo(service, sha256, report)
    for n, sha256 in enumerate(todo):
        if progress:
            progress(n, len(todo), sha256[:12])
        try:
            reembed_photo(service, sha256, report)
        except (ImintError, OSError) as exc:  # an unreadable original: say so, keep going; old rows stay
            report.photos_failed.append(f"{sha256[:12]}: {exc}")
    if report.photos_done or report.photos_relinked:
        service.invalidate_index()
    if progress:
        progress(len(todo), len(todo), "")
    return report
