"""1:N search: find enrolled people in photos and videos.

``search`` is the one entry for the CLI, the web API and background jobs alike: it sorts the
paths into photos and videos (``imint.media.sniff.sort_media``), searches each photo here and
hands the videos to the video search (``imint.faces.video``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from imint.errors import BadInputError, ImintError
from imint.faces.analysis import analyze_evidence, embedding_of
from imint.faces.annotate import draw_faces, fmr_label
from imint.faces.calibration import DEFAULT_FPIR
from imint.faces.gallery import watchlist_members
from imint.faces.near_copies import mark_searched_copies
from imint.faces.quality import is_poor
from imint.faces.results import DEFAULT_TOP_K, FaceResult, MediaResult, ProgressFn, SearchResults
from imint.faces.tables import Match, Person
from imint.media.ingest import log_custody
from imint.media.sniff import sort_media
from imint.records import Candidate
from imint.store.models import EvidenceRow

if TYPE_CHECKING:
    from imint.faces.service import FaceService
    from imint.workspace import Workspace

# Frames analysed per second of video unless asked otherwise (the video search's default too).
DEFAULT_VIDEO_FPS = 5.0


# -- matching embedded faces against the gallery ------------------------------------------------
def _ranked_people(
    scores: np.ndarray, ids: np.ndarray, owner: dict[int, int], allowed: set[int] | None, k: int
) -> list[tuple[int, tuple[float, int]]]:
    """The best-scoring reference face of each person among one face's hits, top ``k`` people."""
    best: dict[int, tuple[float, int]] = {}
    for sc, fid in zip(scores, ids, strict=False):
        if fid < 0:
            continue
        pid = owner.get(int(fid))
        if pid is None or (allowed is not None and pid not in allowed):
            continue
        if pid not in best or sc > best[pid][0]:
            best[pid] = (float(sc), int(fid))
    return sorted(best.items(), key=lambda kv: -kv[1][0])[:k]


def match_faces(
    faces: FaceService,
    embeddings: np.ndarray,
    qualities: np.ndarray,
    reasons: Sequence[str],
    *,
    fpir: float = DEFAULT_FPIR,
    k: int = DEFAULT_TOP_K,
    watchlist: str | None = None,
) -> list[list[Candidate]]:
    """Candidate lists for embedded faces against the enrolled references.

    A candidate is above the operating point when its score clears the
    threshold for the FPIR asked, at the lower quality of the two faces.
    Poor faces get candidates listed but never above the threshold.
    """
    index, owner = faces.reference_index()
    allowed = watchlist_members(faces.ws, watchlist) if watchlist else None
    n_refs = sum(1 for pid in owner.values() if allowed is None or pid in allowed)
    if len(index) == 0 or len(embeddings) == 0 or n_refs == 0:
        return [[] for _ in range(len(embeddings))]
    with faces.ws.session() as s:
        names = dict(s.execute(select(Person.id, Person.name)).all())
    cal = faces.calibration
    op = f"fpir={fpir:g}"
    depth = min(len(index), max(4 * k, 32))
    scores, ids = index.search(np.asarray(embeddings, np.float32), depth)
    out: list[list[Candidate]] = []
    for qi in range(len(embeddings)):
        cands = []
        for rank, (pid, (sc, fid)) in enumerate(_ranked_people(scores[qi], ids[qi], owner, allowed, k), 1):
            q, q_ref = float(qualities[qi]), faces.index.reference_quality(fid)
            threshold = cal.threshold_for_fpir(fpir, q, n_refs, q_ref)
            cands.append(
                Candidate(
                    person_id=pid,
                    person_name=names.get(pid, str(pid)),
                    score=sc,
                    fmr=cal.fmr(sc, q, q_ref),
                    rank=rank,
                    operating_point=op,
                    above_threshold=bool(sc >= threshold and not is_poor(reasons[qi])),
                )
            )
        out.append(cands)
    return out


def record_matches(s: Session, face_id: int, cands: list[Candidate]) -> list[Candidate]:
    """Store candidates above the operating point; keep a person's earlier decision.

    The candidates come back with their stored ``id`` and ``status`` (those below the operating
    point that were never stored keep ``id=None``)."""
    out = []
    for c in cands:
        m = s.scalar(select(Match).where(Match.face_id == face_id, Match.person_id == c.person_id))
        if c.above_threshold and m is None:
            m = Match(
                face_id=face_id,
                person_id=c.person_id,
                score=c.score,
                fmr=c.fmr,
                rank=c.rank,
                operating_point=c.operating_point,
                status="candidate",
            )
            s.add(m)
            s.flush()
        stored = {"status": m.status, "id": m.id} if m is not None else {"status": "candidate"}
        out.append(Candidate(**{**c.__dict__, **stored}))
    return out


# -- photos -------------------------------------------------------------------------------
def search_photo(
    faces: FaceService,
    path: Path,
    *,
    fpir: float = DEFAULT_FPIR,
    k: int = DEFAULT_TOP_K,
    watchlist: str | None = None,
    annotate_dir: str | Path | None = None,
) -> MediaResult:
    """Ingest, analyse (once per file) and search one photo; a bad file gives ``result.error``."""
    ws = faces.ws
    result = MediaResult(path=str(path))
    try:
        with ws.session() as s:
            faces.share_image_hash(s, path)
            evidence = ws.ingest(path, source=str(path), session=s)
            rows, reused = analyze_evidence(faces, s, evidence)
            log_custody(s, evidence.sha256, "searched", ws.user, model=faces.model_id, fpir=fpir)
        result.evidence, result.reused = evidence, reused
    except ImintError as exc:
        result.error = str(exc)
        return result
    if rows:
        embeddings = np.stack([embedding_of(r) for r in rows])
        qualities = np.array([r.quality for r in rows], np.float32)
        reasons = [r.quality_reason for r in rows]
        candidates = match_faces(faces, embeddings, qualities, reasons, fpir=fpir, k=k, watchlist=watchlist)
    else:
        candidates = []  # no face: nothing to match (and no engine to load for an empty array's width)
    with ws.session() as s:
        for row, cands in zip(rows, candidates, strict=True):
            result.faces.append(
                FaceResult(
                    face_id=row.id,
                    box=(row.x1, row.y1, row.x2, row.y2),
                    det_score=row.det_score,
                    quality=row.quality,
                    quality_reason=row.quality_reason,
                    candidates=record_matches(s, row.id, cands),
                )
            )
    if annotate_dir is not None and result.evidence is not None:
        result.annotated_path = str(annotate(ws, result, Path(annotate_dir)))
    return result


def annotate(ws: Workspace, result: MediaResult, out_dir: Path) -> Path:
    """Write the photo with its faces drawn and labelled (name and FMR, unknown, poor quality)."""
    assert result.evidence is not None
    image = ws.read_image(result.evidence)
    labelled = []
    for f in result.faces:
        if f.poor:
            labelled.append((f.box, "poor quality", "poor"))
        elif f.best is not None:
            state = "confirmed" if f.best.status == "confirmed" else "match"
            labelled.append((f.box, f"{f.best.person_name} ({fmr_label(f.best.fmr)})", state))
        else:
            labelled.append((f.box, "unknown", "unknown"))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(result.path).stem}-{result.evidence.sha256[:8]}.jpg"
    bgr = cv2.cvtColor(draw_faces(image, labelled), cv2.COLOR_RGB2BGR)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise BadInputError("could not encode the annotated image", subject=out)
    # Through a temp file: a run killed mid-write must not leave half a JPEG in exports/.
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(jpeg.tobytes())
    tmp.replace(out)
    return out


# -- videos ---------------------------------------------------------------------------------
def video_search_available() -> bool:
    """Whether this build can search videos (the video part and its decoder are installed)."""
    return _video_search() is not None


def _video_search() -> Callable[..., list[dict[str, Any]]] | None:
    """The video part's ``search_videos``, or None in a build without video support."""
    try:
        from imint.faces.video import search_videos
    except ImportError:  # a build without PyAV
        return None
    return search_videos


def _search_videos(
    ws: Workspace, videos: list[Path], *, progress: ProgressFn | None, **options: Any
) -> list[dict[str, Any]]:
    search_videos = _video_search()
    if search_videos is None:
        return [
            {
                "media": {"path": str(v)},
                "error": f"{v}: video search is not available in this build",
                "appearances": [],
            }
            for v in videos
        ]
    return search_videos(ws, videos, progress=progress, **options)


# -- the one search -------------------------------------------------------------------------
def search(
    faces: FaceService,
    paths: str | Path | Iterable[str | Path],
    *,
    fpir: float = DEFAULT_FPIR,
    k: int = DEFAULT_TOP_K,
    watchlist: str | None = None,
    annotate_dir: str | Path | None = None,
    fps: float = DEFAULT_VIDEO_FPS,
    progress: ProgressFn | None = None,
    video_progress: ProgressFn | None = None,
    follow_links: bool = True,
    by_bytes: bool = False,
    with_videos: bool = True,
) -> SearchResults:
    """Find enrolled people in photos and videos (files, or folders searched recursively).

    Every photo is ingested and analysed in its own transaction: a bad file is reported in
    its result and the run goes on. Files analysed before (same bytes) are not analysed
    again. The result lists the photos' results; its ``videos`` the videos' (appearances).
    ``follow_links`` and ``by_bytes`` say how folders are read (``sort_media``); with
    ``with_videos=False`` videos are left out (clustering adds photos only).
    """
    photos, videos = sort_media(paths, follow_links=follow_links, by_bytes=by_bytes)
    results: list[MediaResult] = []
    for i, path in enumerate(photos):
        if progress:
            progress(i, len(photos), str(path))
        results.append(
            search_photo(faces, path, fpir=fpir, k=k, watchlist=watchlist, annotate_dir=annotate_dir)
        )
    if progress:
        progress(len(photos), len(photos), "")
    with faces.ws.session() as s:  # one session: the stored hashes are read once for all the photos
        mark_searched_copies(s, results)
    found_in_videos = (
        _search_videos(
            faces.ws,
            videos,
            fpir=fpir,
            k=k,
            watchlist=watchlist,
            fps=fps,
            out_dir=Path(annotate_dir) if annotate_dir is not None else None,
            progress=video_progress,
        )
        if videos and with_videos
        else []
    )
    return SearchResults(results, found_in_videos)


def recent_media(ws: Workspace, limit: int = 20) -> list[dict[str, Any]]:
    """The photos and videos stored last (to search again from the search page)."""
    with ws.session() as s:
        return [
            {"sha256": e.sha256, "name": e.original_name, "kind": e.kind, "added_at": e.added_at}
            for e in s.scalars(
                select(EvidenceRow)
                .where(EvidenceRow.kind.in_(("image", "video")))
                .order_by(EvidenceRow.added_at.desc())
                .limit(limit)
            )
        ]
