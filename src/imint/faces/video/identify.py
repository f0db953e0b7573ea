"""Who the tracks are: 1:N search of each track's template, clustering of unknown tracks with
the unknown faces of photos, and appearances (a person's tracks that follow each other closely)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from imint.errors import ValidationError
from imint.faces.cluster import DEFAULT_CLUSTER_FMR, carry_cluster_ids, cluster_embeddings
from imint.faces.video.results import Appearance, TrackResult
from imint.faces.video.storage import (
    set_track_faces_cluster,
    store_track_matches,
    track_templates,
    unknown_photo_faces,
    unknown_tracks,
)
from imint.records import Candidate

if TYPE_CHECKING:
    from imint.faces.service import FaceService

MERGE_GAP_SECONDS = 2.0  # tracks of one person this close in time make one appearance


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(np.linalg.norm(v), 1e-12)


def match_tracks(
    service: FaceService, scan_id: int, *, fpir: float, k: int, watchlist: str | None
) -> list[TrackResult]:
    """Track-level 1:N search of every reported track's template; results stored."""
    embedded = [t for t in track_templates(service.ws, scan_id) if t.template is not None]
    candidates: dict[int, list[Candidate]] = {}
    if embedded:
        lists = service.match_faces(
            np.stack([_unit(t.template) for t in embedded]).astype(np.float32),
            np.array([t.quality for t in embedded], np.float32),
            [t.quality_reason for t in embedded],
            fpir=fpir,
            k=k,
            watchlist=watchlist,
        )
        candidates = {t.track_id: c for t, c in zip(embedded, lists, strict=True)}
    return store_track_matches(service, scan_id, candidates)


def cluster_tracks(service: FaceService, *, fmr: float = DEFAULT_CLUSTER_FMR) -> dict[int, int]:
    """Cluster every unknown track of the workspace with the unknown faces of its photos.

    A track counts once, by its template (at its best quality); a photo face by its own
    embedding. Clustering and the carrying over of cluster ids from earlier runs are the faces
    part's (``imint.faces.cluster``); a track's stored faces follow its cluster. Returns
    ``{track_id: cluster_id}``.
    """
    if not 0 < fmr < 1:
        raise ValidationError("the clustering FMR must be between 0 and 1", subject="fmr")
    calibration = service.engine.calibration
    with service.ws.session() as s:
        tracks = unknown_tracks(s, service.model_id)
        photo_faces = unknown_photo_faces(s, service.model_id)
        if not tracks:
            return {}
        vectors = [np.frombuffer(t.template_sum, np.float64) for t in tracks]
        vectors += [np.frombuffer(f.embedding, np.float32).astype(np.float64) for f in photo_faces]
        embeddings = np.stack([_unit(v) for v in vectors]).astype(np.float32)
        quality = np.array([t.best_quality for t in tracks] + [f.quality for f in photo_faces])
        # Two tracks seen at the same time in one video are two people.
        cannot_link = [
            (i, j)
            for i in range(len(tracks))
            for j in range(i + 1, len(tracks))
            if tracks[i].scan_id == tracks[j].scan_id
            and tracks[i].start <= tracks[j].end
            and tracks[j].start <= tracks[i].end
        ]
        labels = cluster_embeddings(embeddings, quality, calibration, fmr=fmr, cannot_link=cannot_link)
        old = [t.cluster_id for t in tracks] + [f.cluster_id for f in photo_faces]
        out: dict[int, int] = {}
        for i, cluster_id in enumerate(carry_cluster_ids(s, labels, old)):
            if i < len(tracks):
                tracks[i].cluster_id = cluster_id
                out[tracks[i].id] = cluster_id
            else:
                photo_faces[i - len(tracks)].cluster_id = cluster_id
        set_track_faces_cluster(s, out)
        return out


def merge_appearances(tracks: list[TrackResult]) -> list[Appearance]:
    """Merge a person's (or a cluster's) tracks that follow within ``MERGE_GAP_SECONDS``.

    A track that is neither identified nor clustered is an appearance of its own.
    """
    groups: dict[tuple[str, int], list[TrackResult]] = {}
    for t in tracks:
        best = t.best
        if best is not None:
            key = ("person", best.person_id)
        elif t.cluster is not None:
            key = ("cluster", t.cluster)
        else:
            key = ("track", t.track_id)
        groups.setdefault(key, []).append(t)
    out = [
        _appearance(run, kind)
        for (kind, _), members in groups.items()
        for run in _runs(sorted(members, key=lambda t: t.start))
    ]
    out.sort(key=lambda a: (a.start, a.person is None))
    return out


def _runs(members: list[TrackResult]) -> list[list[TrackResult]]:
    """Tracks (by start) split where a gap longer than ``MERGE_GAP_SECONDS`` follows the run so far."""
    runs: list[list[TrackResult]] = [[members[0]]]
    for t in members[1:]:
        if t.start - max(m.end for m in runs[-1]) <= MERGE_GAP_SECONDS:
            runs[-1].append(t)
        else:
            runs.append([t])
    return runs


def _appearance(run: list[TrackResult], kind: str) -> Appearance:
    top = [c for t in run for c in t.candidates[:1]]
    best_match = min((t.best for t in run if t.best), key=lambda c: c.fmr) if kind == "person" else None
    # For unknowns, the closest enrolled person, for reference.
    closest = best_match or (min(top, key=lambda c: c.fmr) if top else None)
    shot = max(run, key=lambda t: (not t.poor, t.quality))
    return Appearance(
        person=best_match.person_name if best_match else None,
        person_id=best_match.person_id if best_match else None,
        cluster=run[0].cluster if kind == "cluster" else None,
        start=min(t.start for t in run),
        end=max(t.end for t in run),
        score=closest.score if closest else None,
        fmr=closest.fmr if closest else None,
        best_frame_time=shot.best_frame_time,
        quality_reason=shot.quality_reason,
        track_nos=[t.track_no for t in run],
        status=best_match.status if best_match else "candidate",
    )
