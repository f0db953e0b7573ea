"""The library calls: find enrolled people in one video, or in several."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imint.errors import BadInputError, ImintError, ValidationError
from imint.faces.calibration import DEFAULT_FPIR
from imint.faces.cluster import DEFAULT_CLUSTER_FMR
from imint.faces.video.detect import DEFAULT_DETECT_MAX_SIDE
from imint.faces.video.identify import cluster_tracks, match_tracks, merge_appearances
from imint.faces.video.pool import DEFAULT_EMBED_WORKERS
from imint.faces.video.render import write_annotated, write_contact_sheet
from imint.faces.video.results import VideoResult
from imint.faces.video.scan import DEFAULT_SEGMENT_SECONDS, ProgressFn, scan_video
from imint.faces.video.stats import ScanStats
from imint.faces.video.storage import scan_outcome, store_appearances
from imint.media.frames import DEFAULT_SAMPLE_FPS, VideoInfo, probe_video
from imint.records import Evidence

if TYPE_CHECKING:
    from imint.workspace import Workspace


def _check_parameters(fpir: float, fps: float, segment_seconds: float, embed_workers: int) -> None:
    if not 0 < fpir < 1:
        raise ValidationError("FPIR must be between 0 and 1", subject="fpir")
    if not 0 < fps <= 60:
        raise ValidationError("sampling rate must be between 0 and 60 frames per second", subject="fps")
    if segment_seconds <= 0:
        raise ValidationError("segment length must be positive", subject="segment_seconds")
    if embed_workers < 0:
        raise ValidationError("the number of embedding workers cannot be negative", subject="embed_workers")


def ingest_video(ws: Workspace, path: Path) -> tuple[Evidence, VideoInfo]:
    """Store a video file as evidence and read its stream; a file that is not readable video is not stored."""
    with ws.session() as s:
        evidence = ws.ingest(path, session=s, source=str(path))
        if evidence.kind != "video":
            raise BadInputError(f"not a video (detected as {evidence.kind})", subject=path)
        # Probing inside the ingest transaction: a file FFmpeg cannot read is not stored.
        try:
            info = probe_video(evidence.stored_path)
        except BadInputError as exc:
            raise BadInputError(exc.reason, subject=path) from None
    return evidence, info


def search_video(
    ws: Workspace,
    path: str | Path,
    *,
    fpir: float = DEFAULT_FPIR,
    k: int = 5,
    watchlist: str | None = None,
    fps: float = DEFAULT_SAMPLE_FPS,
    annotate_dir: str | Path | None = None,
    contact_sheet: bool = True,
    cluster: bool = True,
    cluster_fmr: float = DEFAULT_CLUSTER_FMR,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
    embed_workers: int = DEFAULT_EMBED_WORKERS,
    progress: ProgressFn | None = None,
    stats: ScanStats | None = None,
) -> VideoResult:
    """Find enrolled people in a video: appearances with time spans, FMRs and best shots.

    The file is ingested (hash, evidence store, custody), analysed into face tracks
    (resuming an interrupted earlier run, or reusing a finished one), and each track is
    searched 1:N at the operating point ``fpir``. Unknown tracks are clustered with the
    workspace's other unknown faces. With ``annotate_dir``, an annotated MP4 and a contact
    sheet PNG are written there. ``stats`` receives this call's time per stage and embedding
    counts (also in ``result.timings``). Raises ``BadInputError`` for files that are not
    readable video; a stream that breaks midway gives results for the part before the fault
    and ``result.error``.
    """
    _check_parameters(fpir, fps, segment_seconds, embed_workers)
    service = ws.faces
    path = Path(path)
    clock = time.perf_counter()
    evidence, info = ingest_video(ws, path)
    result = VideoResult(
        path=str(path), evidence=evidence, info=info, operating_point=f"fpir={fpir:g}", sample_fps=fps
    )
    stats = stats if stats is not None else ScanStats()
    scan_id, result.reused = scan_video(
        service,
        evidence,
        info,
        fps=fps,
        segment_seconds=segment_seconds,
        detect_max_side=detect_max_side,
        embed_workers=embed_workers,
        progress=progress,
        stats=stats,
    )
    result.timings = stats.as_dict() if not result.reused else {}
    tracks = match_tracks(service, scan_id, fpir=fpir, k=k, watchlist=watchlist)
    if cluster:
        clusters = cluster_tracks(service, fmr=cluster_fmr)
        for t in tracks:
            t.cluster = clusters.get(t.track_id) if t.best is None else None
    result.tracks = tracks
    result.appearances = merge_appearances(tracks)
    store_appearances(ws, scan_id, result.appearances, tracks, result.operating_point)
    result.error, result.frames_sampled = scan_outcome(ws, scan_id)
    ws.log_custody(
        evidence.sha256,
        "searched-video",
        model=service.model_id,
        fpir=fpir,
        sample_fps=fps,
        tracks=len(tracks),
        appearances=len(result.appearances),
    )
    if annotate_dir is not None:
        out_dir = Path(annotate_dir)
        result.annotated_path = str(write_annotated(ws, evidence, info, scan_id, tracks, out_dir, fps=fps))
        if contact_sheet:
            result.contact_sheet_path = str(write_contact_sheet(ws, evidence, scan_id, tracks, out_dir))
        ws.log_custody(evidence.sha256, "exported", annotated=result.annotated_path)
    result.seconds = time.perf_counter() - clock
    return result


def search_videos(
    ws: Workspace,
    paths: Sequence[str | Path],
    *,
    fpir: float,
    k: int,
    watchlist: str | None,
    fps: float,
    out_dir: str | Path | None,
    progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """Search each video; one JSON object per video (``VideoResult.to_dict``), in order,
    then one per video that could not be searched:
    ``{"media": {"path": ...}, "error": ..., "appearances": []}``.

    ``progress(done, total, path)`` hears ``(0, 0, path)`` when a video starts (its length
    not yet known), the sampled frames analysed while it is searched, and ``(n, n, path)``
    when it is done.
    """
    results: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for path in map(Path, paths):
        item = str(path)
        seen = {"total": 1}

        def update(done: int, total: int, _name: str, item: str = item, seen: dict = seen) -> None:
            seen["total"] = max(total, 1)
            if progress:
                progress(done, total, item)

        if progress:
            progress(0, 0, item)
        try:
            found = search_video(
                ws, path, fpir=fpir, k=k, watchlist=watchlist, fps=fps, annotate_dir=out_dir, progress=update
            )
            results.append(found.to_dict())
        except ImintError as exc:
            failed.append({"media": {"path": item}, "error": str(exc), "appearances": []})
        if progress:
            progress(seen["total"], seen["total"], item)
    return results + failed
