"""Reading and writing the video tables: scans, segments, tracks with their detections, appearances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from imint.faces.quality import is_poor
from imint.faces.results import identified_as
from imint.faces.tables import FaceRow, Match, ReferencePhoto
from imint.faces.video.results import Appearance, TrackResult
from imint.faces.video.tables import VideoAppearance, VideoDetection, VideoScan, VideoSegment, VideoTrack
from imint.faces.video.track import PendingFace, Track
from imint.media.frames import VideoInfo
from imint.records import Candidate, Evidence
from imint.store.db import utcnow

if TYPE_CHECKING:
    from imint.faces.service import FaceService
    from imint.workspace import Workspace


# -- scans and segments ----------------------------------------------------------------
@dataclass
class ScanState:
    """Where a scan stands: what a run needs to start or resume it."""

    scan_id: int
    status: str  # running, complete, partial
    processed_until: float
    next_track_no: int
    frames_sampled: int


def open_scan(
    ws: Workspace, evidence: Evidence, info: VideoInfo, *, model_id: str, fps: float, params: dict
) -> ScanState:
    """The scan of this video with this model at this rate, started if there is none."""
    with ws.session() as s:
        scan = s.scalar(
            select(VideoScan).where(
                VideoScan.evidence_sha256 == evidence.sha256,
                VideoScan.model_id == model_id,
                VideoScan.sample_fps == fps,
            )
        )
        if scan is None:
            scan = VideoScan(
                evidence_sha256=evidence.sha256,
                model_id=model_id,
                sample_fps=fps,
                params=params,
                duration=info.duration,
            )
            s.add(scan)
            s.flush()
        return ScanState(scan.id, scan.status, scan.processed_until, scan.next_track_no, scan.frames_sampled)


def scan_outcome(ws: Workspace, scan_id: int) -> tuple[str | None, int]:
    """A scan's stream error (None when the whole video was read) and its number of sampled frames."""
    with ws.session() as s:
        scan = s.get(VideoScan, scan_id)
        return scan.error, scan.frames_sampled


def load_open_tracks(ws: Workspace, scan_id: int) -> list[Track]:
    """The tracks a killed or stopped run left open, to continue them."""
    with ws.session() as s:
        rows = s.scalars(
            select(VideoTrack).where(VideoTrack.scan_id == scan_id, VideoTrack.status == "open")
        ).all()
        return [_open_track(r) for r in rows]


def _open_track(r: VideoTrack) -> Track:
    return Track(
        no=r.track_no,
        start=r.start,
        end=r.end,
        box=np.asarray(r.last_box, np.float32),
        velocity=np.asarray(r.velocity, np.float32),
        n_frames=r.n_frames,
        template_sum=None if r.template_sum is None else np.frombuffer(r.template_sum, np.float64).copy(),
        template_weight=r.template_weight,
        n_embedded=r.n_embedded,
        n_submitted=r.n_embedded,
        submitted_quality=r.best_quality if r.best_embedded else -1.0,
        last_embed_time=r.last_embed_time,
        # The window restarts at the last embedding; the candidate's crop and the
        # re-identification crop were not stored, so a later face is needed.
        window_start=r.last_embed_time if r.last_embed_time is not None else r.start,
        best_quality=r.best_quality,
        best_embedded=r.best_embedded,
        best_time=r.best_frame_time,
        best_reason=r.best_reason,
        best_box=np.asarray(r.best_box, np.float32),
        best_crop=r.best_crop,
        best_face_id=r.best_face_id,
        row_id=r.id,
    )


@dataclass
class SegmentDone:
    """A stretch of video analysed since the last commit."""

    start: float
    end: float
    frames: int
    faces: int
    embedded: int
    seconds: float


def store_segment(
    ws: Workspace,
    scan_id: int,
    evidence_sha256: str,
    model_id: str,
    tracks: list[Track],
    segment: SegmentDone,
    *,
    next_track_no: int,
    final_status: str | None = None,
    error: str | None = None,
) -> None:
    """Store one segment's work in one transaction: the tracks it touched, their detections and
    faces, the segment and the scan's progress (and, at the end, its status)."""
    with ws.session() as s:
        for track in tracks:
            _store_track(s, scan_id, evidence_sha256, model_id, track)
        s.add(
            VideoSegment(
                scan_id=scan_id,
                start=round(segment.start, 4),
                end=round(segment.end, 4),
                frames=segment.frames,
                faces=segment.faces,
                embedded=segment.embedded,
                seconds=round(segment.seconds, 3),
            )
        )
        scan = s.get(VideoScan, scan_id)
        scan.processed_until = round(segment.end, 4)
        scan.frames_sampled += segment.frames
        scan.next_track_no = next_track_no
        scan.updated_at = utcnow()
        if final_status:
            scan.status = final_status
            scan.error = error


def _store_track(s: Session, scan_id: int, sha256: str, model_id: str, track: Track) -> None:
    # Only embedded faces and the best shot become face records; every face is a detection.
    face_rows: dict[int, FaceRow] = {}
    for p in track.pending:
        if p.embedding is not None or p is track.best_pending:
            face_rows[id(p)] = row = _face_row(sha256, model_id, p)
            s.add(row)
    s.flush()
    for p in track.pending:
        if id(p) in face_rows:
            p.row_id = face_rows[id(p)].id
    if track.best_pending is not None and track.best_pending.row_id is not None:
        track.best_face_id = track.best_pending.row_id
    row = s.get(VideoTrack, track.row_id) if track.row_id else None
    if row is None:
        row = VideoTrack(scan_id=scan_id, track_no=track.no)
        s.add(row)
    _write_track_state(row, track)
    s.flush()
    track.row_id = row.id
    for p in track.pending:
        s.add(
            VideoDetection(
                track_id=row.id,
                frame_time=round(p.time, 4),
                x1=float(p.box[0]),
                y1=float(p.box[1]),
                x2=float(p.box[2]),
                y2=float(p.box[3]),
                det_score=p.score,
                quality=p.quality,
                face_id=face_rows[id(p)].id if id(p) in face_rows else None,
            )
        )


def _write_track_state(row: VideoTrack, track: Track) -> None:
    row.status = track.status
    row.start, row.end, row.n_frames = round(track.start, 4), round(track.end, 4), track.n_frames
    row.last_box = [round(float(v), 2) for v in track.box]
    row.velocity = [round(float(v), 3) for v in track.velocity]
    row.template_sum = None if track.template_sum is None else track.template_sum.astype(np.float64).tobytes()
    row.template_weight = track.template_weight
    row.n_embedded = track.n_embedded
    row.last_embed_time = track.last_embed_time
    row.best_face_id = track.best_face_id
    row.best_frame_time = round(track.best_time, 4)
    row.best_quality = track.best_quality
    row.best_reason = track.best_reason
    row.best_box = [round(float(v), 2) for v in track.best_box]
    row.best_embedded = track.best_embedded
    row.best_crop = track.best_crop


def _face_row(sha256: str, model_id: str, p: PendingFace) -> FaceRow:
    return FaceRow(
        evidence_sha256=sha256,
        frame_time=round(p.time, 4),
        x1=float(p.box[0]),
        y1=float(p.box[1]),
        x2=float(p.box[2]),
        y2=float(p.box[3]),
        landmarks=p.landmarks.round(2).tolist(),
        det_score=p.score,
        quality=p.quality,
        quality_reason=p.reason,
        embedding=None if p.embedding is None else p.embedding.astype(np.float32).tobytes(),
        model_id=model_id,
    )


# -- matching results -------------------------------------------------------------------
@dataclass
class TrackTemplate:
    """A reported track's template (None if no face of it was embedded) and its best quality."""

    track_id: int
    template: np.ndarray | None
    quality: float
    quality_reason: str


def _reported_tracks(scan_id: int):  # noqa: ANN202 - a SQLAlchemy Select
    return (
        select(VideoTrack)
        .where(VideoTrack.scan_id == scan_id, VideoTrack.status == "closed")
        .order_by(VideoTrack.start, VideoTrack.track_no)
    )


def track_templates(ws: Workspace, scan_id: int) -> list[TrackTemplate]:
    """The reported (closed) tracks of a scan with their templates, in time order."""
    with ws.session() as s:
        return [
            TrackTemplate(
                r.id,
                None if r.template_sum is None else np.frombuffer(r.template_sum, np.float64),
                r.best_quality,
                r.best_reason,
            )
            for r in s.scalars(_reported_tracks(scan_id))
        ]


def store_track_matches(
    service: FaceService, scan_id: int, candidates: dict[int, list[Candidate]]
) -> list[TrackResult]:
    """Store each reported track's identity; the results, with candidates as recorded.

    The track's best face carries the match, so the review queue (imint candidates /
    confirm / reject) covers video too, and a person's earlier decision is kept.
    """
    results = []
    with service.ws.session() as s:
        for r in s.scalars(_reported_tracks(scan_id)):
            cands = candidates.get(r.id, [])
            if r.best_face_id is not None and cands:
                cands = service.record_matches(s, r.best_face_id, cands)
            best = identified_as(cands)
            r.person_id = best.person_id if best else None
            r.score = (best or (cands[0] if cands else None)).score if cands else None
            r.fmr = (best or cands[0]).fmr if cands else None
            if best is not None:
                r.cluster_id = None
            results.append(
                TrackResult(
                    track_id=r.id,
                    track_no=r.track_no,
                    start=r.start,
                    end=r.end,
                    frames=r.n_frames,
                    best_frame_time=r.best_frame_time,
                    best_box=tuple(r.best_box),
                    quality=r.best_quality,
                    quality_reason=r.best_reason,
                    face_id=r.best_face_id,
                    candidates=cands,
                    cluster=r.cluster_id,
                )
            )
    return results


def store_appearances(
    ws: Workspace,
    scan_id: int,
    appearances: list[Appearance],
    tracks: list[TrackResult],
    operating_point: str,
) -> None:
    """Replace the scan's stored appearances with these (one search's)."""
    by_no = {t.track_no: t.track_id for t in tracks}
    with ws.session() as s:
        s.execute(delete(VideoAppearance).where(VideoAppearance.scan_id == scan_id))
        for a in appearances:
            s.add(
                VideoAppearance(
                    scan_id=scan_id,
                    person_id=a.person_id,
                    cluster_id=a.cluster,
                    start=a.start,
                    end=a.end,
                    score=a.score,
                    fmr=a.fmr,
                    best_frame_time=a.best_frame_time,
                    track_ids=[by_no[n] for n in a.track_nos],
                    operating_point=operating_point,
                )
            )


# -- unknown faces for clustering --------------------------------------------------------
def unknown_tracks(s: Session, model_id: str) -> list[VideoTrack]:
    """Every reported track of the workspace (this model) that is nobody enrolled and has a template."""
    return list(
        s.scalars(
            select(VideoTrack)
            .join(VideoScan, VideoScan.id == VideoTrack.scan_id)
            .where(
                VideoScan.model_id == model_id,
                VideoTrack.status == "closed",
                VideoTrack.person_id.is_(None),
                VideoTrack.template_sum.is_not(None),
            )
            .order_by(VideoTrack.id)
        )
    )


def unknown_photo_faces(s: Session, model_id: str) -> list[FaceRow]:
    """Embedded photo faces that are no reference, have no standing match and are not poor."""
    refs = set(s.scalars(select(ReferencePhoto.face_id)))
    matched = set(s.scalars(select(Match.face_id).where(Match.status != "rejected")))
    faces = s.scalars(
        select(FaceRow).where(
            FaceRow.model_id == model_id,
            FaceRow.frame_time.is_(None),
            FaceRow.embedding.is_not(None),
        )
    )
    return [f for f in faces if f.id not in refs and f.id not in matched and not is_poor(f.quality_reason)]


def set_track_faces_cluster(s: Session, cluster_of_track: dict[int, int]) -> None:
    """A track's stored faces follow its cluster, so ``imint clusters`` lists them too."""
    face_ids = {
        d.face_id: cluster_of_track[d.track_id]
        for d in s.scalars(select(VideoDetection).where(VideoDetection.track_id.in_(list(cluster_of_track))))
        if d.face_id is not None
    }
    for f in s.scalars(select(FaceRow).where(FaceRow.id.in_(list(face_ids)))):
        f.cluster_id = face_ids[f.id]


# -- what the outputs draw ----------------------------------------------------------------
def detection_boxes(
    ws: Workspace, scan_id: int
) -> list[tuple[int, float, tuple[float, float, float, float]]]:
    """Every detection of the scan's tracks: ``(track_id, frame_time, box)``."""
    with ws.session() as s:
        return [
            (d.track_id, d.frame_time, (d.x1, d.y1, d.x2, d.y2))
            for d in s.scalars(select(VideoDetection).join(VideoTrack).where(VideoTrack.scan_id == scan_id))
        ]


def best_shot_crops(ws: Workspace, scan_id: int) -> dict[int, bytes | None]:
    """Each track's best-shot JPEG, by track id."""
    with ws.session() as s:
        return dict(
            s.execute(select(VideoTrack.id, VideoTrack.best_crop).where(VideoTrack.scan_id == scan_id)).all()
        )
