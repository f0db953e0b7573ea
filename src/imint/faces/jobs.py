"""The faces part's background jobs: search stored evidence or an inbox folder, re-cluster."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from imint.api import audit
from imint.errors import ImintError
from imint.faces.cluster import Clusters
from imint.faces.inbox import inbox_dir, inbox_media

if TYPE_CHECKING:
    from imint.api.jobs import JobContext


def photo_summary(result: dict[str, Any], name: str = "") -> dict[str, Any]:
    """One searched photo in a job's or a page's list: faces, candidates above the threshold, who."""
    faces = result.get("faces") or []
    return {
        "sha256": result.get("sha256") or "",
        "name": name or Path(result.get("path") or "").name,
        "faces": len(faces),
        "candidates": sum(1 for f in faces for c in f.get("candidates") or [] if c.get("above_threshold")),
        "identities": sorted({f["identity"] for f in faces if f.get("identity")}),
        "error": result.get("error"),
    }


def video_summary(video: dict[str, Any], name: str) -> dict[str, Any]:
    appearances = video.get("appearances") or []
    return {
        "sha256": (video.get("media") or {}).get("sha256") or "",
        "name": name,
        "faces": len(video.get("tracks") or []),  # face tracks
        "candidates": sum(1 for a in appearances if a.get("person")),
        "identities": sorted({a["person"] for a in appearances if a.get("person")}),
        "appearances": appearances,
        "error": video.get("error"),
    }


def _search_one(
    ws: Any, ctx: JobContext, i: int, n: int, name: str, path: Path, options: dict[str, Any]
) -> tuple[list[dict[str, Any]], str | None]:
    """Search one file of a job: its summaries and its error (a bad file does not sink the job)."""

    def on_frames(done: int, total: int, what: str = "") -> None:
        ctx.progress(i, n, f"{name}: {what or 'frames'} {done}/{total}")

    try:
        results = ws.faces.search([path], video_progress=on_frames, **options)
    except ImintError as exc:
        return [], str(exc)
    if results.videos:
        video = results.videos[0]
        if not (video.get("media") or {}).get("sha256"):  # the video could not be searched at all
            return [], video.get("error") or "the video could not be searched"
        # A stream broken midway still gives results for the part before the fault.
        return [video_summary(video, name)], video.get("error")
    error = "; ".join(r.error for r in results if r.error)
    return [photo_summary(r.to_dict(), name) for r in results if not r.error], error or None


def _search_files_job(ctx: JobContext, files: list[tuple[str, Path]]) -> dict[str, Any]:
    """Search files one by one with progress; on a resume, skip the ones done before the restart."""
    ws = ctx.ws.as_user(ctx.user)
    options = ctx.params.get("options", {})
    # After a restart, the results of the files done before it come back from the job row.
    summaries: list[dict[str, Any]] = list(ctx.partial.get("evidence", []))
    failed: list[dict[str, str]] = list(ctx.partial.get("failed", []))
    for i, (name, path) in enumerate(files):
        if i < ctx.resume_from:
            continue
        ctx.progress(i, len(files), f"searching {name}", force=True)
        found, error = _search_one(ws, ctx, i, len(files), name, path, options)
        if error:
            failed.append({"name": name, "error": error})
        summaries += found
        ctx.checkpoint(i + 1, len(files), {"evidence": summaries, "failed": failed}, f"searched {name}")
    faces = sum(s["faces"] for s in summaries)
    with ctx.ws.session() as s:
        audit.record(
            s,
            actor=ctx.user,
            action="search-done",
            target=f"job {ctx.job_id}",
            via="job",
            files=len(files),
            faces=faces,
            identities=sorted({n for x in summaries for n in x["identities"]}),
        )
    return {"evidence": summaries, "failed": failed, "resumed_from": ctx.resume_from}


def face_search_job(ctx: JobContext) -> dict[str, Any]:
    """Search evidence already in the store (uploads of several files, videos)."""
    files = []
    for sha in ctx.params["evidence"]:
        ev = ctx.ws.evidence(sha)
        files.append((ev.original_name, Path(ev.stored_path)))
    return _search_files_job(ctx, files)


def face_search_folder_job(ctx: JobContext) -> dict[str, Any]:
    """Search every photo and video of a folder in the workspace inbox."""
    root = inbox_dir(ctx.ws).resolve()
    files = [(str(p.relative_to(root)), p) for p in inbox_media(ctx.ws, ctx.params["folder"])]
    return _search_files_job(ctx, files)


def face_cluster_job(ctx: JobContext) -> dict[str, Any]:
    """Re-cluster every unknown face of the workspace (honouring earlier merges and splits)."""
    ws = ctx.ws.as_user(ctx.user)
    ctx.progress(0, 1, "clustering unknown faces", force=True)
    kwargs = {"fmr": ctx.params["fmr"]} if "fmr" in ctx.params else {}
    clusters = Clusters(ws.faces).run(**kwargs)
    ctx.progress(1, 1, f"{len(clusters)} clusters")
    return {"clusters": len(clusters), "faces": sum(len(c.face_ids) for c in clusters), "link": "/clusters"}


HANDLERS = {
    "face-search": face_search_job,
    "face-search-folder": face_search_folder_job,
    "face-cluster": face_cluster_job,
}
