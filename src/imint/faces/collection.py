"""A collection: every photo and video of a workspace analysed once, and searched for a person.

``ingest`` adds files (photos, videos, folders) through ``Workspace.ingest`` and analyses
every face once per (file, model), the same analysis ``imint search`` reuses by hash. Photos
are analysed by workers and written in batches (``imint.faces.ingest_pipeline``): a photo's
file, faces and ``face_scans`` row commit together, so a killed run loses at most its batch
and resumes analysing nothing twice; a video is scanned segment by segment by the video
part (its own resumable scan), without matching.

``find`` answers "where else does this person appear?": every stored usable face (photo faces,
and video tracks by their template at their best face) scored against the person's reference
faces, kept when it clears the threshold for the FPIR asked at the collection's size, and
recorded as a candidate for review. ``appearance_search`` is the one exact search over the
stored vectors; an approximate collection index can replace it behind the same signature.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from imint.errors import BadInputError, ImintError, NotFoundError, ValidationError
from imint.faces.analysis import analyze_evidence, embedding_of
from imint.faces.calibration import DEFAULT_FPIR, load_calibration
from imint.faces.collection_faces import (  # noqa: F401 - CollectionFaces: the searched collection's type, here too
    CollectionFaces,
    _in_chunks,
    _qualities_of,
    _usable_face_ids,
    collection_faces,
)
from imint.faces.collection_index import CollectionIndex, IndexDamagedError, collection_index_dir
from imint.faces.gallery import find_person, get_person
from imint.faces.ingest_pipeline import BATCH_PHOTOS
from imint.faces.near_copies import group_appearances
from imint.faces.quality import is_poor
from imint.faces.results import ProgressFn
from imint.faces.tables import FaceRow, Match, ReferencePhoto
from imint.media.ingest import log_custody
from imint.media.sniff import sort_media
from imint.store.models import EvidenceRow

if TYPE_CHECKING:
    from imint.faces.service import FaceService
    from imint.workspace import Workspace

DEFAULT_VIDEO_FPS = 5.0


# -- ingest ----------------------------------------------------------------------------------
@dataclass
class IngestReport:
    """What one ``ingest`` run did: files seen, analysed now, reused from before, bad ones."""

    photos: int = 0
    videos: int = 0
    analysed: int = 0  # photos analysed by this run
    reused: int = 0  # photos analysed by an earlier run (same bytes)
    faces: int = 0  # faces stored by this run (photos; videos' in ``video_tracks``)
    video_tracks: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    seconds: float = 0.0
    workers: int = 0
    commits: int = 0  # photo transactions (batches) committed
    ray_address: str = ""
    ray_retries: int = 0  # files sent again after a Ray worker was lost
    # CPU seconds of the photo phase: this process (the one writer) and the workers' analyses.
    writer_cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0

    @property
    def faces_per_second(self) -> float:
        return self.faces / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "photos": self.photos,
            "videos": self.videos,
            "analysed": self.analysed,
            "reused": self.reused,
            "faces": self.faces,
            "video_tracks": self.video_tracks,
            "bad": [{"path": p, "error": e} for p, e in self.bad],
            "seconds": round(self.seconds, 3),
            "faces_per_second": round(self.faces_per_second, 2),
            "workers": self.workers,
            "commits": self.commits,
            "ray_address": self.ray_address,
            "ray_retries": self.ray_retries,
            "writer_cpu_seconds": round(self.writer_cpu_seconds, 3),
            "worker_cpu_seconds": round(self.worker_cpu_seconds, 3),
        }


def _ingest_photos(
    faces: FaceService,
    photos: Sequence[Path],
    report: IngestReport,
    workers: int,
    progress: ProgressFn | None,
    batch: int,
    ray_address: str,
) -> None:
    """Workers (processes, Ray tasks, or none) analyse; this process writes ``batch`` photos per commit."""
    from imint.faces import ingest_pipeline as pipeline

    done = 0
    cpu = time.process_time()

    def stored(_work: pipeline.PhotoWork) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(photos), _work.path)

    writer = pipeline.BatchWriter(faces, batch=batch, on_stored=stored)
    known = pipeline.scanned_hashes(faces)
    if ray_address:
        from imint.faces.ray_ingest import RayWorkers

        ray_workers = RayWorkers(faces.model_id, ray_address, known)
        try:
            stats = pipeline.write_all(writer, ray_workers.results(photos))
        finally:
            ray_workers.close()
        report.ray_retries = ray_workers.retries
    elif workers > 0:
        pool = pipeline.LocalWorkers(faces.model_id, workers, known)
        try:
            stats = pipeline.write_all(writer, pool.results(photos))
        finally:
            pool.close()
    else:
        stats = pipeline.write_all(writer, pipeline.in_this_process(faces.model_id, photos, known))
    report.analysed, report.reused, report.faces = stats.analysed, stats.reused, stats.faces
    report.bad.extend(sorted(stats.bad))
    report.commits = stats.commits
    report.writer_cpu_seconds = time.process_time() - cpu
    report.worker_cpu_seconds = stats.worker_cpu_seconds


def _ingest_videos(
    faces: FaceService,
    videos: Sequence[Path],
    report: IngestReport,
    fps: float,
    progress: ProgressFn | None,
) -> None:
    try:
        from imint.faces.video.scan import scan_video
        from imint.faces.video.search import ingest_video
    except ImportError:  # a build without PyAV
        report.bad.extend((str(v), f"{v}: video analysis is not available in this build") for v in videos)
        return
    from imint.faces.video.storage import scan_outcome

    for i, path in enumerate(videos):
        try:
            evidence, info = ingest_video(faces.ws, path)
            scan_id, _ = scan_video(faces, evidence, info, fps=fps)
            error, _ = scan_outcome(faces.ws, scan_id)
            report.video_tracks += count_video_tracks(faces.ws, scan_id)
            if error:
                report.bad.append((str(path), f"{path}: {error} (the part before it was analysed)"))
        except ImintError as exc:
            report.bad.append((str(path), str(exc)))
        if progress:
            progress(i + 1, len(videos), str(path))


def count_video_tracks(ws: Workspace, scan_id: int) -> int:
    from imint.faces.video.tables import VideoTrack

    with ws.session() as s:
        return len(s.scalars(select(VideoTrack.id).where(VideoTrack.scan_id == scan_id)).all())


def ingest(
    faces: FaceService,
    paths: str | Path | Iterable[str | Path],
    *,
    workers: int = 0,
    ray_address: str = "",
    batch: int = BATCH_PHOTOS,
    fps: float = DEFAULT_VIDEO_FPS,
    with_videos: bool = True,
    progress: ProgressFn | None = None,
    video_progress: ProgressFn | None = None,
) -> IngestReport:
    """Add photos and videos (files, or folders read recursively) and analyse every face once.

    ``workers`` processes (or, with ``ray_address``, Ray tasks on that cluster) decode, detect
    and embed photos ahead while this process writes them, ``batch`` photos per transaction
    (0 workers: this process does it all). A photo analysed before (same bytes, same model) is
    not analysed again; a bad file is listed in ``report.bad`` and the run goes on.
    """
    if workers < 0:
        raise ValidationError("the number of workers cannot be negative", subject="workers")
    if batch < 1:
        raise ValidationError("a batch holds at least one photo", subject="batch")
    clock = time.perf_counter()
    photos, videos = sort_media(paths)
    report = IngestReport(
        photos=len(photos),
        videos=len(videos) if with_videos else 0,
        workers=workers,
        ray_address=ray_address,
    )
    _ingest_photos(faces, photos, report, workers, progress, batch, ray_address)
    if with_videos and videos:
        _ingest_videos(faces, videos, report, fps, video_progress)
    report.seconds = time.perf_counter() - clock
    return report


_INDEX_CACHE: dict[Path, CollectionIndex] = {}  # one loaded copy per index folder in this process
_INDEX_LOCK = threading.RLock()  # a search never sees the index mid-update (API threads)


def collection_index(ws: Workspace, model_id: str, dim: int) -> CollectionIndex:
    """The workspace's collection index of ``model_id``, brought up to date with the database.

    Kept incrementally: faces stored since the last call are added (only their vectors are
    read), faces deleted since are removed, and the result saved (atomically) when it changed.
    A saved copy that is missing, damaged or of another dimension is rebuilt from the stored
    vectors: the database stays the source of truth. When the settings name a Milvus (``index_uri``)
    the index is a Milvus collection kept by the same rules (``imint.faces.collection_milvus``)."""
    if ws.settings.index_uri:
        from imint.faces.collection_milvus import milvus_collection_index

        with _INDEX_LOCK:
            return milvus_collection_index(ws, model_id, dim)  # type: ignore[return-value]
    directory = collection_index_dir(ws.index_dir, model_id)
    with _INDEX_LOCK:
        with ws.session() as s:
            current = _usable_face_ids(s, model_id)
        index = _INDEX_CACHE.get(directory)
        if index is None:
            try:
                index = CollectionIndex.load(directory)
            except IndexDamagedError:
                index = None
        if index is None or index.dim != dim:
            c = collection_faces(ws, model_id, dim)
            index = CollectionIndex.build(c.face_ids, c.vectors) if len(c) else CollectionIndex(dim)
            index.save(directory)
        else:
            held = index.ids()
            gone, new = np.setdiff1d(held, current), np.setdiff1d(current, held)
            if len(gone):
                index.remove(gone)
            if len(new):
                c = collection_faces(ws, model_id, dim, only=set(new.tolist()))
                index.add(c.face_ids, c.vectors)
            if len(gone) or len(new):
                index.save(directory)
        _INDEX_CACHE[directory] = index
        return index


def face_scores(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Inner products ``(faces, queries)``, each from its own two vectors only (a row-wise sum, not a
    matrix product whose blocking depends on the batch), so the exact search and the index's
    re-score give bit-identical scores, and so identical FMRs."""
    out = np.empty((len(vectors), len(queries)), np.float32)
    for start in range(0, len(vectors), 65536):
        block = vectors[start : start + 65536]
        for j, q in enumerate(queries):
            out[start : start + len(block), j] = (block * q[None, :]).sum(axis=1)
    return out


def _strongest_first(face_ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    which = scores.argmax(axis=1)
    best = scores[np.arange(len(which)), which]
    order = np.lexsort((face_ids, -best))  # ties: lower face id first
    return face_ids[order], best[order], which[order]


def appearance_search(
    collection: CollectionFaces, query_vectors: np.ndarray, *, exclude: Collection[int] = frozenset()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact search of the collection: for every collection face (but ``exclude``), the best score
    over the query vectors and which query gave it. Returns ``(face_ids, scores, query_index)``,
    strongest first. The peer of ``index_search`` (same scores, same order)."""
    q = np.asarray(query_vectors, np.float32).reshape(
        -1, collection.vectors.shape[1] if len(collection) else 1
    )
    if len(collection) == 0 or len(q) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
    keep = np.array([int(f) not in exclude for f in collection.face_ids], bool)
    return _strongest_first(collection.face_ids[keep], face_scores(collection.vectors[keep], q))


def index_search(
    index: CollectionIndex,
    query_vectors: np.ndarray,
    floors: np.ndarray,
    *,
    exclude: Collection[int] = frozenset(),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``appearance_search`` through the collection index, for the faces that score at least
    ``floors[j]`` with some query ``j`` (the lowest threshold any of its pairs can have).

    Each query asks the index for its k nearest faces and doubles k until the k-th scores below
    its floor, so every face above the floor is in some query's list (up to the index's recall);
    those are re-scored exactly against every query. Faces below every floor are left out: they
    could not clear a threshold."""
    q = np.ascontiguousarray(np.atleast_2d(query_vectors), np.float32)
    empty = np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
    if len(index) == 0 or len(q) == 0:
        return empty
    k = min(len(index), 64 + len(exclude))
    while True:
        if k > len(index) // 4:  # most of the collection: the exact scan is as fast and complete
            hits = index.ids()
            break
        scores, ids = index.search(q, k)
        if not (scores[:, -1] >= floors).any():
            hits = np.unique(ids[(scores >= floors[:, None]) & (ids >= 0)])
            break
        k *= 4
    hits = hits[~np.isin(hits, np.fromiter((int(f) for f in exclude), np.int64, len(exclude)))]
    if not len(hits):
        return empty
    return _strongest_first(hits, face_scores(index.vectors_of(hits), q))


# -- find ------------------------------------------------------------------------------------------
@dataclass
class FindResult:
    """Every appearance of one person (or of one face) above the operating point, strongest first."""

    person_id: int | None
    person: str | None
    operating_point: str
    faces_searched: int
    comparison_fmr: float  # the per-comparison FMR the threshold stands for
    appearances: list[dict[str, Any]] = field(default_factory=list)
    new_candidates: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_BIN_QUALITIES = (0.2, 0.5, 0.8)  # one quality inside each bin of imint.faces.quality


def _operating_point(fpir: float, n: int) -> str:
    return f"find fpir={fpir:g} n={n}"


def _query_of_person(s: Any, person_id: int, model_id: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    refs = s.execute(
        select(FaceRow.id, FaceRow.embedding, FaceRow.quality)
        .join(ReferencePhoto, ReferencePhoto.face_id == FaceRow.id)
        .where(ReferencePhoto.person_id == person_id, FaceRow.model_id == model_id)
        .order_by(FaceRow.id)
    ).all()
    if not refs:
        raise NotFoundError("the person has no reference face for this model", subject=f"person {person_id}")
    return (
        [r.id for r in refs],
        np.stack([np.frombuffer(r.embedding, np.float32) for r in refs]),
        np.array([r.quality for r in refs], np.float32),
    )


def _appearance_rows(s: Any, face_ids: list[int]) -> dict[int, tuple[FaceRow, EvidenceRow]]:
    rows = s.execute(
        select(FaceRow, EvidenceRow)
        .join(EvidenceRow, EvidenceRow.sha256 == FaceRow.evidence_sha256)
        .where(FaceRow.id.in_(face_ids))
    ).all()
    return {f.id: (f, e) for f, e in rows}


def find(
    faces: FaceService,
    *,
    name: str | None = None,
    person_id: int | None = None,
    face_id: int | None = None,
    photo: str | Path | None = None,
    fpir: float = DEFAULT_FPIR,
    record: bool = True,
    limit: int | None = None,
) -> FindResult:
    """Where else does this person (``name`` / ``person_id``) or this face (``face_id``, or the largest
    face of ``photo``) appear in the workspace?

    Every stored usable face (not a reference of the person, not the face asked about) is
    compared with every query face; one is kept when its best score clears the threshold of the
    per-comparison FMR ``1 - (1 - fpir) ** (1 / (c * T))`` at the pair's quality bins, with ``T``
    the comparisons made (faces searched times query faces): the chance that a search for a
    person finds any stranger anywhere in the collection stays ``fpir``. For a person, each one is
    recorded as a candidate for review (a person's earlier decision is kept, nothing is confirmed
    here); ``new_candidates`` counts those stored now.
    """
    if not 0 < fpir < 1:
        raise ValidationError("FPIR must be between 0 and 1", subject="fpir")
    ws = faces.ws
    # The calibration table alone (no engine is loaded for a search over stored vectors).
    cal = load_calibration(faces.model_id)
    exclude: set[int] = set()
    pname = None
    with ws.session() as s:
        if name is not None or person_id is not None:
            person = find_person(s, name) if name is not None else get_person(s, int(person_id))
            person_id, pname = person.id, person.name
            query_ids, queries, query_q = _query_of_person(s, person.id, faces.model_id)
            exclude = set(query_ids)
        elif face_id is not None:
            row = s.get(FaceRow, face_id)
            if row is None or row.embedding is None or row.model_id != faces.model_id:
                raise NotFoundError("no embedded face with this id", subject=f"face {face_id}")
            query_ids, queries, query_q = [row.id], embedding_of(row)[None, :], np.array([row.quality])
            exclude = {row.id}
        elif photo is None:
            raise ValidationError("give a person's name, a face id or a photo", subject="find")
    if photo is not None and person_id is None and face_id is None:
        query_ids, queries, query_q = _query_of_photo(faces, Path(photo))
        exclude = set(query_ids)
    with _INDEX_LOCK:
        index = collection_index(ws, faces.model_id, int(queries.shape[1]))
        searched = len(index) - sum(1 for f in exclude if f in index)
        n_comparisons = max(1, searched * len(queries))
        # The lowest threshold each query can meet (over the face quality bins): the index's floor.
        floors = np.array(
            [
                min(cal.threshold_for_fpir(fpir, float(qr), n_comparisons, qf) for qf in _BIN_QUALITIES)
                for qr in query_q
            ]
        )
        ids, scores, which = index_search(index, queries, floors, exclude=exclude)
    with ws.session() as s:
        quality_of = _qualities_of(s, faces.model_id, set(ids.tolist()))
    result = FindResult(
        person_id=person_id,
        person=pname,
        operating_point=_operating_point(fpir, searched),
        faces_searched=searched,
        comparison_fmr=cal.comparison_fmr_for_fpir(fpir, n_comparisons),
    )
    kept: list[tuple[int, float, int, float]] = []
    for fid, sc, qi in zip(ids.tolist(), scores.tolist(), which.tolist(), strict=True):
        q_ref, q_face = float(query_q[qi]), quality_of[fid]
        threshold = cal.threshold_for_fpir(fpir, q_ref, n_comparisons, q_face)
        if sc >= threshold:
            kept.append((fid, sc, qi, cal.fmr(sc, q_ref, q_face)))
        if limit is not None and len(kept) >= limit:
            break
    with ws.session() as s:
        rows = _appearance_rows(s, [k[0] for k in kept])
        for fid, sc, qi, fmr in kept:
            face, ev = rows[fid]
            appearance = {
                "face_id": fid,
                "sha256": ev.sha256,
                "kind": ev.kind,
                "source": ev.source or ev.original_name,
                "frame_time": face.frame_time,
                "box": [round(v, 1) for v in (face.x1, face.y1, face.x2, face.y2)],
                "score": round(float(sc), 4),
                "fmr": fmr,
                "quality": round(face.quality, 3),
                "quality_reason": face.quality_reason,
                "reference_face_id": query_ids[qi],
                "reference_quality": round(float(query_q[qi]), 3),
                "candidate_id": None,
                "status": None,
            }
            if person_id is not None:
                m, new = _record(s, fid, person_id, float(sc), fmr, result.operating_point, create=record)
                if m is not None:
                    appearance["candidate_id"], appearance["status"] = m.id, m.status
                result.new_candidates += new
                if new:
                    log_custody(s, ev.sha256, "find-candidate", ws.user, person=pname, face_id=fid, fmr=fmr)
            result.appearances.append(appearance)
    # Copies of one picture (resized, re-encoded, mirrored) rank as one appearance, the others under it.
    result.appearances = group_appearances(ws, result.appearances)
    return result


def _record(
    s: Any, face_id: int, person_id: int, score: float, fmr: float, op: str, *, create: bool
) -> tuple[Match | None, bool]:
    """The face's candidate for the person: the stored one (its status kept) or, with ``create``, a new one."""
    m = s.scalar(select(Match).where(Match.face_id == face_id, Match.person_id == person_id))
    if m is not None or not create:
        return m, False
    m = Match(face_id=face_id, person_id=person_id, score=score, fmr=fmr, rank=1, operating_point=op)
    s.add(m)
    s.flush()
    return m, True


def _query_of_photo(faces: FaceService, photo: Path) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The largest face of a photo (stored as evidence and analysed once, like any searched photo)."""
    from imint.faces.analysis import choose_face

    ws = faces.ws
    with ws.session() as s:
        evidence = ws.ingest(photo, source=str(photo), session=s)
        rows, _ = analyze_evidence(faces, s, evidence)
        chosen = choose_face(rows, "largest", evidence)
        if chosen is None or chosen.embedding is None:
            raise BadInputError("no face found", subject=photo)
        if is_poor(chosen.quality_reason):
            raise BadInputError(f"the face is not usable ({chosen.quality_reason})", subject=photo)
        return [chosen.id], embedding_of(chosen)[None, :], np.array([chosen.quality], np.float32)


def person_appearances(
    faces: FaceService, person_id: int, *, fpir: float = DEFAULT_FPIR, limit: int | None = 200
) -> dict[str, Any]:
    """A person's appearances for pages and the API, recording nothing (a look, not a hunt):
    the ones already queued carry their candidate id and status. A person without a reference
    face of this model has none."""
    try:
        return find(faces, person_id=person_id, fpir=fpir, record=False, limit=limit).to_dict()
    except NotFoundError:
        with faces.ws.session() as s:
            get_person(s, person_id)  # an unknown person is still a 404
        return {"person_id": person_id, "appearances": [], "faces_searched": 0, "new_candidates": 0}


def retro_hunt(faces: FaceService, person_id: int, *, fpir: float = DEFAULT_FPIR) -> int:
    """Search the back catalogue for an (newly) enrolled person; the new candidates queued for review."""
    return find(faces, person_id=person_id, fpir=fpir).new_candidates
