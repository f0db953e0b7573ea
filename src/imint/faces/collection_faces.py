"""The searched collection: every usable stored face of one model, read from the database as arrays.

Below both collection indexes (the local ``CollectionIndex`` kept by ``imint.faces.collection`` and the
Milvus one in ``imint.faces.collection_milvus``): each reads the faces it must hold, and the vectors of
a shortlist for the exact re-score, from here, so neither index module imports the other's keeper.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from imint.faces.quality import is_poor
from imint.faces.tables import FaceRow

if TYPE_CHECKING:
    from imint.workspace import Workspace


@dataclass
class CollectionFaces:
    """Every usable stored face of one model as arrays (row i: ``face_ids[i]``, ``vectors[i]``...)."""

    face_ids: np.ndarray
    vectors: np.ndarray
    qualities: np.ndarray

    def __len__(self) -> int:
        return len(self.face_ids)


def collection_faces(
    ws: Workspace, model_id: str, dim: int, *, only: Collection[int] | None = None
) -> CollectionFaces:
    """Photo faces with an embedding, and each closed video track once (its template, at its best
    face), leaving out poor-quality faces (they are never matched automatically). ``only``: just
    these face ids (the ones a collection index lacks)."""
    ids: list[int] = []
    vecs: list[np.ndarray] = []
    quals: list[float] = []
    photo_faces = select(FaceRow.id, FaceRow.embedding, FaceRow.quality, FaceRow.quality_reason).where(
        FaceRow.model_id == model_id, FaceRow.frame_time.is_(None), FaceRow.embedding.is_not(None)
    )
    with ws.session() as s:
        chunks = [photo_faces] if only is None else _in_chunks(photo_faces, FaceRow.id, only)
        for query in chunks:
            for fid, emb, q, reason in s.execute(query):
                if not is_poor(reason):
                    ids.append(fid)
                    vecs.append(np.frombuffer(emb, np.float32))
                    quals.append(q)
        for fid, tsum, q, reason in _video_track_templates(s, model_id):
            if not is_poor(reason) and (only is None or fid in only):
                v = np.frombuffer(tsum, np.float64)
                ids.append(fid)
                vecs.append((v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32))
                quals.append(q)
    return CollectionFaces(
        np.array(ids, np.int64),
        np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32),
        np.array(quals, np.float32),
    )


def _in_chunks(query: Any, column: Any, ids: Collection[int], size: int = 500) -> list[Any]:
    """``query`` restricted to ``column IN ids``, in chunks small enough for SQLite's variable limit."""
    ordered = sorted(int(i) for i in ids)
    return [query.where(column.in_(ordered[i : i + size])) for i in range(0, len(ordered), size)]


def _usable_face_ids(s: Any, model_id: str) -> np.ndarray:
    """Ids of the faces ``collection_faces`` returns, without reading their vectors."""
    ids = [
        fid
        for fid, reason in s.execute(
            select(FaceRow.id, FaceRow.quality_reason).where(
                FaceRow.model_id == model_id, FaceRow.frame_time.is_(None), FaceRow.embedding.is_not(None)
            )
        )
        if not is_poor(reason)
    ]
    ids += [fid for fid, _, _, reason in _video_track_templates(s, model_id) if not is_poor(reason)]
    return np.unique(np.array(ids, np.int64))


def _qualities_of(s: Any, model_id: str, face_ids: Collection[int]) -> dict[int, float]:
    """The quality ``collection_faces`` gives each of these faces (a video track's: its best face's)."""
    out: dict[int, float] = {}
    for query in _in_chunks(select(FaceRow.id, FaceRow.quality), FaceRow.id, face_ids):
        out.update((int(f), float(q)) for f, q in s.execute(query))
    for fid, _, q, _ in _video_track_templates(s, model_id):
        if fid in out:
            out[int(fid)] = float(q)
    return out


def _video_track_templates(s: Any, model_id: str) -> list[Any]:
    try:
        from imint.faces.video.tables import VideoScan, VideoTrack
    except ImportError:  # pragma: no cover - a build without the video part
        return []
    return list(
        s.execute(
            select(
                VideoTrack.best_face_id,
                VideoTrack.template_sum,
                VideoTrack.best_quality,
                VideoTrack.best_reason,
            )
            .join(VideoScan, VideoScan.id == VideoTrack.scan_id)
            .where(
                VideoScan.model_id == model_id,
                VideoTrack.status == "closed",
                VideoTrack.template_sum.is_not(None),
                VideoTrack.best_face_id.is_not(None),
            )
        ).all()
    )
