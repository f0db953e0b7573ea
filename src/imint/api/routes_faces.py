"""Faces over HTTP: persons and watchlists, enroll, search, evidence results, verify, review, clusters.

Reads come straight from the tables (they are the record); changes go through
``imint.faces`` / the Workspace so the API does exactly what the CLI does.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image
from sqlalchemy import func, select

from imint.api import audit
from imint.api.acting import acting_workspace
from imint.api.deps import audit_event, done, guard, principal, render, wants_json
from imint.api.jobs import JobContext
from imint.api.uploads import saved_uploads
from imint.errors import BadInputError, ImintError, NotFoundError, ValidationError
from imint.faces.tables import Cluster, FaceRow, Match, Person, ReferencePhoto, Watchlist, WatchlistMember
from imint.media.sniff import sniff_bytes
from imint.store.models import EvidenceRow

router = APIRouter()

MAX_IMAGE_BYTES = 40 * 1024 * 1024
# Searches of a single photo run in the request; more files, videos or folders become a job.
SYNC_SEARCH_MAX_IMAGES = 1
_write_lock = threading.Lock()  # enrollments and decisions change the gallery: one at a time


def _ws(request: Request) -> Any:
    return request.app.state.ws


def _acting(request: Request) -> Any:
    """The workspace acting as the caller (custody entries carry their name)."""
    return acting_workspace(request.app.state.ws, principal(request).name)


def _file_limit(request: Request) -> int:
    return min(MAX_IMAGE_BYTES, request.app.state.max_upload_bytes)


# -- persons ------------------------------------------------------------------------------------
def _person_dict(p: Person, n_refs: int = 0, watchlists: list[str] | None = None) -> dict[str, Any]:
    return p.to_dict() | {"reference_photos": n_refs, "watchlists": watchlists or []}


def _watchlists_of(s: Any, person_ids: list[int]) -> dict[int, list[str]]:
    rows = s.execute(
        select(WatchlistMember.person_id, Watchlist.name)
        .join(Watchlist, Watchlist.id == WatchlistMember.watchlist_id)
        .where(WatchlistMember.person_id.in_(person_ids))
    )
    out: dict[int, list[str]] = {}
    for pid, name in rows:
        out.setdefault(pid, []).append(name)
    return out


@router.get("/persons", tags=["persons"], **guard("viewer"))
def persons_page(request: Request, q: Annotated[str | None, Query(max_length=256)] = None) -> Response:
    """Enrolled persons (filter by a part of the name with ``q``)."""
    with _ws(request).session() as s:
        stmt = (
            select(Person, func.count(ReferencePhoto.id))
            .outerjoin(ReferencePhoto, ReferencePhoto.person_id == Person.id)
            .group_by(Person.id)
            .order_by(Person.name)
        )
        if q:
            # A bound parameter, never string formatting: `q` can hold anything.
            stmt = stmt.where(Person.name.contains(q, autoescape=True))
        rows = s.execute(stmt).all()
        lists = _watchlists_of(s, [p.id for p, _ in rows])
        persons = [_person_dict(p, n, lists.get(p.id)) for p, n in rows]
        watchlists = [w.name for w in s.scalars(select(Watchlist).order_by(Watchlist.name))]
    return render(request, "persons.html", {"persons": persons, "q": q or "", "watchlists": watchlists})


def _get_person(s: Any, person_id: int) -> Person:
    person = s.get(Person, person_id)
    if person is None:
        raise NotFoundError("no such person", subject=f"person {person_id}")
    return person


@router.get("/persons/{person_id}", tags=["persons"], **guard("viewer"))
def person_page(request: Request, person_id: int) -> Response:
    with _ws(request).session() as s:
        person = _get_person(s, person_id)
        refs = list(s.scalars(select(ReferencePhoto).where(ReferencePhoto.person_id == person_id)))
        matches = s.execute(
            select(Match, FaceRow.evidence_sha256)
            .join(FaceRow, FaceRow.id == Match.face_id)
            .where(Match.person_id == person_id, Match.status != "rejected")
            .order_by(Match.fmr)
            .limit(500)
        ).all()
        data = {
            "person": _person_dict(person, len(refs), _watchlists_of(s, [person_id]).get(person_id)),
            "references": [
                {
                    "face_id": r.face_id,
                    "evidence_sha256": r.evidence_sha256,
                    "added_at": r.added_at,
                    "added_by": r.added_by,
                }
                for r in refs
            ],
            "matches": [_match_dict(m, sha) for m, sha in matches],
        }
    return render(request, "person.html", data)


def _enroll_result_dict(result: Any) -> dict[str, Any]:
    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)


@router.post("/persons", tags=["persons"], status_code=201, **guard("analyst"))
def enroll(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=256)],
    photos: Annotated[list[UploadFile], File(description="reference photos (JPEG, PNG, WebP)")],
    notes: Annotated[str, Form(max_length=10000)] = "",
    watchlist: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """Enroll a person from reference photos (or add photos to an enrolled person)."""
    ws = _acting(request)
    name = name.strip()
    if not name:
        raise ValidationError("a person needs a name", subject="name")
    kwargs: dict[str, Any] = {}
    if notes:
        kwargs["notes"] = notes
    if watchlist:
        kwargs["watchlist"] = watchlist
    with saved_uploads(photos, allowed=("image",), max_file_bytes=_file_limit(request)) as paths:
        try:
            with _write_lock:
                result = _enroll_result_dict(ws.enroll(name, paths, **kwargs))
        except Exception as exc:
            audit_event(request, "enroll", name, outcome="failed", error=str(exc), photos=len(paths))
            raise
    with ws.session() as s:
        person = s.scalar(select(Person).where(Person.name == name))
        person_id = person.id if person else None
    audit_event(request, "enroll", name, person_id=person_id, photos=[p.name for p in paths])
    data = {"person_id": person_id, "name": name, **result}
    return done(request, data, f"/persons/{person_id}" if person_id else "/persons", status_code=201)


@router.post("/persons/{person_id}/update", tags=["persons"], **guard("analyst"))
def update_person(
    request: Request,
    person_id: int,
    name: Annotated[str | None, Form(max_length=256)] = None,
    notes: Annotated[str | None, Form(max_length=10000)] = None,
    aliases: Annotated[str | None, Form(max_length=2000, description="comma-separated")] = None,
) -> Response:
    """Rename a person, or change their notes or aliases."""
    ws = _acting(request)
    with ws.session() as s:
        old_name = _get_person(s, person_id).name
    alias_list = [a.strip() for a in aliases.split(",") if a.strip()] if aliases is not None else None
    with _write_lock:
        ws.faces.update_person(
            old_name, new_name=(name or "").strip() or None, notes=notes, aliases=alias_list
        )
    audit_event(request, "person-update", old_name, person_id=person_id, new_name=name, notes=notes)
    with ws.session() as s:
        person = _person_dict(_get_person(s, person_id))
    return done(request, person, f"/persons/{person_id}")


@router.post("/persons/{person_id}/delete", tags=["persons"], **guard("analyst"))
def delete_person(request: Request, person_id: int) -> Response:
    """Remove a person and their reference photos from the gallery (the evidence files stay)."""
    ws = _acting(request)
    with ws.session() as s:
        name = _get_person(s, person_id).name
    with _write_lock:
        ws.faces.remove_person(name)
    audit_event(request, "person-delete", name, person_id=person_id)
    return done(request, {"deleted": name, "person_id": person_id}, "/persons")


# -- watchlists ---------------------------------------------------------------------------------
@router.get("/watchlists", tags=["watchlists"], **guard("viewer"))
def watchlists_page(request: Request) -> Response:
    with _ws(request).session() as s:
        rows = s.execute(
            select(Watchlist, func.count(WatchlistMember.person_id))
            .outerjoin(WatchlistMember, WatchlistMember.watchlist_id == Watchlist.id)
            .group_by(Watchlist.id)
            .order_by(Watchlist.name)
        ).all()
        lists = [
            {
                "id": w.id,
                "name": w.name,
                "description": w.description,
                "created_at": w.created_at,
                "members": n,
            }
            for w, n in rows
        ]
    return render(request, "watchlists.html", {"watchlists": lists})


@router.get("/watchlists/{watchlist_id}", tags=["watchlists"], **guard("viewer"))
def watchlist_page(request: Request, watchlist_id: int) -> Response:
    with _ws(request).session() as s:
        w = s.get(Watchlist, watchlist_id)
        if w is None:
            raise NotFoundError("no such watchlist", subject=f"watchlist {watchlist_id}")
        members = s.scalars(
            select(Person)
            .join(WatchlistMember, WatchlistMember.person_id == Person.id)
            .where(WatchlistMember.watchlist_id == watchlist_id)
            .order_by(Person.name)
        )
        data = {
            "watchlist": {
                "id": w.id,
                "name": w.name,
                "description": w.description,
                "created_at": w.created_at,
            },
            "members": [_person_dict(p) for p in members],
            "persons": [
                {"id": p.id, "name": p.name} for p in s.scalars(select(Person).order_by(Person.name))
            ],
        }
    return render(request, "watchlist.html", data)


@router.post("/watchlists", tags=["watchlists"], status_code=201, **guard("analyst"))
def create_watchlist(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=256)],
    description: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    name = name.strip()
    with _ws(request).session() as s:
        if s.scalar(select(Watchlist).where(Watchlist.name == name)) is not None:
            from imint.errors import ConflictError

            raise ConflictError("a watchlist with this name exists", subject=name)
        w = Watchlist(name=name, description=description)
        s.add(w)
        s.flush()
        data = {"id": w.id, "name": w.name, "description": w.description}
    audit_event(request, "watchlist-create", name)
    return done(request, data, f"/watchlists/{data['id']}", status_code=201)


@router.post("/watchlists/{watchlist_id}/members", tags=["watchlists"], **guard("analyst"))
def change_watchlist_members(
    request: Request,
    watchlist_id: int,
    person_id: Annotated[int, Form()],
    action: Annotated[str, Form(pattern="^(add|remove)$")] = "add",
) -> Response:
    """Add a person to a watchlist, or remove one (``action=remove``)."""
    with _ws(request).session() as s:
        w = s.get(Watchlist, watchlist_id)
        if w is None:
            raise NotFoundError("no such watchlist", subject=f"watchlist {watchlist_id}")
        person = _get_person(s, person_id)
        member = s.get(WatchlistMember, (watchlist_id, person_id))
        if action == "add" and member is None:
            s.add(WatchlistMember(watchlist_id=watchlist_id, person_id=person_id))
        elif action == "remove" and member is not None:
            s.delete(member)
        data = {"watchlist": w.name, "person": person.name, "action": action}
    audit_event(request, f"watchlist-{action}", f"{data['watchlist']}: {data['person']}")
    return done(request, data, f"/watchlists/{watchlist_id}")


# -- search -------------------------------------------------------------------------------------
@router.get("/search", tags=["search"], **guard("analyst"))
def search_page(request: Request) -> Response:
    with _ws(request).session() as s:
        watchlists = [w.name for w in s.scalars(select(Watchlist).order_by(Watchlist.name))]
        recent = [
            {"sha256": e.sha256, "name": e.original_name, "kind": e.kind, "added_at": e.added_at}
            for e in s.scalars(
                select(EvidenceRow)
                .where(EvidenceRow.kind.in_(("image", "video")))
                .order_by(EvidenceRow.added_at.desc())
                .limit(20)
            )
        ]
    return render(request, "search.html", {"watchlists": watchlists, "recent_evidence": recent})


def _result_summary(result: dict[str, Any], name: str = "") -> dict[str, Any]:
    faces = result.get("faces") or []
    return {
        "sha256": result.get("sha256") or "",
        "name": name or Path(result.get("path") or "").name,
        "faces": len(faces),
        "candidates": sum(1 for f in faces for c in f.get("candidates") or [] if c.get("above_threshold")),
        "identities": sorted({f["identity"] for f in faces if f.get("identity")}),
        "error": result.get("error"),
    }


def _video_search() -> Any:
    """``imint.faces.video.search_video`` when this build has video support, else None."""
    try:
        from imint.faces.video import search_video
    except ImportError:
        return None
    return search_video


def _video_summary(video: dict[str, Any], name: str) -> dict[str, Any]:
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


def _search_files_job(ctx: JobContext, files: list[tuple[str, Path]]) -> dict[str, Any]:
    """Search files one by one with progress; on a resume, skip the ones done before the restart."""
    ws = acting_workspace(ctx.ws, ctx.user)
    options = ctx.params.get("options", {})
    video_search = _video_search()
    # After a restart, the results of the files done before it come back from the job row.
    summaries: list[dict[str, Any]] = list(ctx.partial.get("evidence", []))
    failed: list[dict[str, str]] = list(ctx.partial.get("failed", []))
    for i, (name, path) in enumerate(files):
        if i < ctx.resume_from:
            continue
        ctx.progress(i, len(files), f"searching {name}", force=True)
        if video_search is not None and sniff_path_kind(path) == "video":

            def on_frames(done: int, total: int, what: str = "", i: int = i, name: str = name) -> None:
                ctx.progress(i, len(files), f"{name}: {what or 'frames'} {done}/{total}")

            try:
                video = video_search(ws, path, progress=on_frames, contact_sheet=False, **options).to_dict()
            except ImintError as exc:
                failed.append({"name": name, "error": str(exc)})
            else:
                if video["error"]:  # a stream broken midway: results cover the part before the fault
                    failed.append({"name": name, "error": video["error"]})
                summaries.append(_video_summary(video, name))
            ctx.checkpoint(i + 1, len(files), {"evidence": summaries, "failed": failed}, f"searched {name}")
            continue
        try:
            results = ws.search([path], **options)
        except ImintError as exc:  # one bad file does not sink the folder
            results, error = [], str(exc)
        else:
            error = "; ".join(r.error for r in results if r.error)
        if error:
            failed.append({"name": name, "error": error})
        summaries += [_result_summary(r.to_dict(), name) for r in results if not r.error]
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


def _face_search_job(ctx: JobContext) -> dict[str, Any]:
    """Search evidence already in the store (uploads of several files, videos)."""
    files = []
    for sha in ctx.params["evidence"]:
        ev = ctx.ws.evidence(sha)
        files.append((ev.original_name, Path(ev.stored_path)))
    return _search_files_job(ctx, files)


def _face_search_folder_job(ctx: JobContext) -> dict[str, Any]:
    """Search every photo and video of a folder in the workspace inbox."""
    root = inbox_dir(ctx.ws).resolve()
    files = [
        (str(p.relative_to(root)), p) for p in media_files(resolve_in_inbox(ctx.ws, ctx.params["folder"]))
    ]
    return _search_files_job(ctx, files)


def _search_options(watchlist: str, top_k: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if watchlist:
        options["watchlist"] = watchlist
    if top_k:
        options["k"] = top_k
    return options


@router.post("/search", tags=["search"], **guard("analyst"))
def search(
    request: Request,
    files: Annotated[list[UploadFile] | None, File(description="photos or videos to search")] = None,
    evidence: Annotated[list[str] | None, Form(description="hashes of evidence already stored")] = None,
    watchlist: Annotated[str, Form(max_length=256)] = "",
    top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
) -> Response:
    """Find enrolled people in photos or videos. One photo is answered at once (the response holds
    the results); several files, or a video, become a background job (the response links to it)."""
    ws = _acting(request)
    me = principal(request)
    options = _search_options(watchlist, top_k)
    hashes = [h.strip() for h in evidence or [] if h.strip()]
    uploads = [f for f in files or [] if f.filename or f.size]
    if not uploads and not hashes:
        raise BadInputError("send files or evidence hashes to search", subject="files")
    stored = [ws.evidence(h) for h in hashes]

    if len(uploads) + len(stored) == 1 and (uploads or stored[0].kind == "image"):
        with (
            saved_uploads(
                uploads, allowed=("image", "video"), max_file_bytes=request.app.state.max_upload_bytes
            )
            if uploads
            else _nullcontext([Path(stored[0].stored_path)]) as paths
        ):
            if not uploads or sniff_path_kind(paths[0]) == "image":
                results = ws.search(paths, **options)
                return _search_answer(
                    request, results, paths[0].name if uploads else stored[0].original_name, options
                )
            stored = [ws.ingest(paths[0], source=f"upload by {me.name}")]
            uploads = []
    if uploads:
        with saved_uploads(
            uploads, allowed=("image", "video"), max_file_bytes=request.app.state.max_upload_bytes
        ) as paths:
            stored += [ws.ingest(p, source=f"upload by {me.name}") for p in paths]
    params = {"evidence": [e.sha256 for e in stored], "options": options}
    job_id = request.app.state.jobs.submit("face-search", params, user=me.name, total=len(stored))
    audit_event(
        request,
        "search",
        f"job {job_id}",
        files=[e.original_name for e in stored],
        evidence=[e.sha256 for e in stored],
        options=options,
    )
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


def _search_answer(request: Request, results: list[Any], name: str, options: dict[str, Any]) -> Response:
    result = results[0]
    if result.error:
        audit_event(request, "search", name, outcome="failed", error=result.error)
        raise BadInputError(result.error, subject=name)
    data = {**result.to_dict(), "path": name}  # the client's name, not the server's temporary path
    summary = _result_summary(data, name)
    audit_event(
        request,
        "search",
        data["sha256"],
        name=name,
        options=options,
        faces=summary["faces"],
        candidates=summary["candidates"],
        identities=summary["identities"],
    )
    return done(request, {"results": [data]}, f"/evidence/{data['sha256']}")


class _nullcontext:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __enter__(self) -> Any:
        return self.value

    def __exit__(self, *exc: object) -> None:
        return None


def sniff_path_kind(path: Path) -> str | None:
    with path.open("rb") as fh:
        return sniff_bytes(fh.read(16))


def media_files(folder: Path) -> list[Path]:
    """Photos and videos under ``folder`` (by their bytes), not following symbolic links."""
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and sniff_path_kind(p) in ("image", "video")
    ]


def inbox_dir(ws: Any) -> Path:
    """Server-side folders may only be searched under ``<workspace>/inbox`` (no path escapes)."""
    d = ws.path / "inbox"
    d.mkdir(exist_ok=True)
    return d


def resolve_in_inbox(ws: Any, folder: str) -> Path:
    root = inbox_dir(ws).resolve()
    if "\x00" in folder:
        raise BadInputError("a folder name cannot hold a NUL byte", subject="folder")
    target = (root / folder).resolve()
    if target != root and root not in target.parents:
        raise BadInputError("the folder must be inside the workspace inbox", subject=folder)
    if not target.is_dir():
        raise NotFoundError("no such folder in the workspace inbox", subject=folder)
    return target


@router.post("/search/folder", tags=["search"], status_code=202, **guard("analyst"))
def search_folder(
    request: Request,
    folder: Annotated[str, Form(max_length=1000, description="a folder inside <workspace>/inbox")] = ".",
    watchlist: Annotated[str, Form(max_length=256)] = "",
    top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
) -> Response:
    """Search every photo and video of a folder in ``<workspace>/inbox``, as a background job."""
    ws = _ws(request)
    me = principal(request)
    n_files = len(media_files(resolve_in_inbox(ws, folder)))
    if not n_files:
        raise BadInputError("no photos or videos in this folder", subject=folder)
    params = {"folder": folder, "options": _search_options(watchlist, top_k)}
    job_id = request.app.state.jobs.submit("face-search-folder", params, user=me.name, total=n_files)
    audit_event(request, "search", f"folder {folder}", job_id=job_id, files=n_files)
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


# -- evidence and its faces ----------------------------------------------------------------------
def _match_dict(m: Match, evidence_sha256: str = "", person_name: str = "") -> dict[str, Any]:
    return {
        "id": m.id,
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
        "evidence_sha256": evidence_sha256,
        "created_at": m.created_at,
    }


def _face_dict(f: FaceRow) -> dict[str, Any]:
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


def _get_evidence_row(s: Any, sha: str) -> EvidenceRow:
    row = s.get(EvidenceRow, sha)
    if row is None:
        raise NotFoundError("no evidence with this hash", subject=sha)
    return row


@router.get("/evidence/{sha256}", tags=["evidence"], **guard("viewer"))
def evidence_page(request: Request, sha256: str) -> Response:
    """An evidence file with its faces and their candidates (the lasting page of a search)."""
    with _ws(request).session() as s:
        ev = _get_evidence_row(s, sha256)
        faces = list(s.scalars(select(FaceRow).where(FaceRow.evidence_sha256 == sha256).order_by(FaceRow.id)))
        rows = s.execute(
            select(Match, Person.name)
            .join(Person, Person.id == Match.person_id)
            .where(Match.face_id.in_([f.id for f in faces]))
            .order_by(Match.face_id, Match.rank)
        ).all()
        by_face: dict[int, list[dict[str, Any]]] = {}
        for m, pname in rows:
            by_face.setdefault(m.face_id, []).append(_match_dict(m, sha256, pname))
        data = {
            "evidence": {
                "sha256": ev.sha256,
                "kind": ev.kind,
                "media_type": ev.media_type,
                "original_name": ev.original_name,
                "size_bytes": ev.size_bytes,
                "metadata": ev.metadata_,
                "added_at": ev.added_at,
                "added_by": ev.added_by,
                "source": ev.source,
            },
            "faces": [{**_face_dict(f), "candidates": by_face.get(f.id, [])} for f in faces],
        }
    return render(request, "evidence.html", data)


@router.get("/evidence/{sha256}/file", tags=["evidence"], **guard("viewer"))
def evidence_file(request: Request, sha256: str, download: bool = False) -> Response:
    """The original file, byte for byte (``download=true`` to save it; that is logged as an export)."""
    ws = _ws(request)
    with ws.session() as s:
        ev = _get_evidence_row(s, sha256)
        name, media_type = ev.original_name, ev.media_type
    path = ws.object_path(sha256)
    if download:
        audit_event(request, "export", sha256, name=name)
        ws.log_custody(sha256, "exported", by=principal(request).name, via="web")
    # Only pictures and videos are shown in the page; anything else (HTML, SVG, PDF...) is a download
    # of opaque bytes, so a hostile file cannot run in the app's origin.
    inline_ok = media_type.startswith(("image/", "video/")) and "svg" not in media_type
    if not inline_ok:
        media_type, download = "application/octet-stream", True
    return FileResponse(
        path,
        media_type=media_type,
        filename=name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )


def _crop_jpeg(image: Any, box: list[float], size: int = 160) -> bytes:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    pad = 0.25 * max(x2 - x1, y2 - y1)
    cx1, cy1 = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    cx2, cy2 = min(w, int(x2 + pad)), min(h, int(y2 + pad))
    if cx2 <= cx1 or cy2 <= cy1:
        raise BadInputError("the face box lies outside the image", subject="box")
    crop = Image.fromarray(image[cy1:cy2, cx1:cx2])
    crop.thumbnail((size, size))
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _frame_at(ws: Any, sha256: str, t: float) -> Any:
    """The upright video frame at ``t`` seconds (face boxes of videos are in its pixels)."""
    try:
        from imint.media.frames import iter_frames
    except ImportError:  # a build without video support
        raise NotFoundError("video frames cannot be read in this build", subject=sha256) from None
    for frame in iter_frames(ws.object_path(sha256), fps=60.0, start=max(0.0, t - 0.02), end=t + 1.0):
        if frame.time >= t - 0.02:
            return frame.rgb
    raise NotFoundError(f"no frame at {t:.2f} s", subject=sha256)


@router.get("/faces/{face_id}/crop", tags=["evidence"], **guard("viewer"))
def face_crop(request: Request, face_id: int) -> Response:
    """A JPEG crop around a face (for result pages and the review queue)."""
    ws = _ws(request)
    with ws.session() as s:
        face = s.get(FaceRow, face_id)
        if face is None:
            raise NotFoundError("no such face", subject=f"face {face_id}")
        ev = _get_evidence_row(s, face.evidence_sha256)
        box, sha, frame_time, kind = [face.x1, face.y1, face.x2, face.y2], ev.sha256, face.frame_time, ev.kind
    if kind == "video" and frame_time is not None:
        image = _frame_at(ws, sha, frame_time)
    else:
        image = ws.read_image(ws.evidence(sha))
    return Response(
        _crop_jpeg(image, box), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )


# -- verify -----------------------------------------------------------------------------------------
@router.post("/verify", tags=["search"], **guard("analyst"))
def verify(
    request: Request,
    a: Annotated[UploadFile, File(description="first photo")],
    b: Annotated[UploadFile, File(description="second photo")],
) -> Response:
    """Is it the same person? Compares the main faces of two photos (score and FMR)."""
    ws = _acting(request)
    with saved_uploads([a, b], allowed=("image",), max_file_bytes=_file_limit(request)) as paths:
        result = ws.verify(paths[0], paths[1])
        data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    audit_event(request, "verify", f"{paths[0].name} vs {paths[1].name}", result=data)
    if wants_json(request):
        return JSONResponse(jsonable_result(data))
    return render(request, "verify.html", {"result": data, "a": paths[0].name, "b": paths[1].name})


def jsonable_result(data: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(data)


# -- review queue ----------------------------------------------------------------------------------
@router.get("/review", tags=["review"], **guard("viewer"))
def review_page(
    request: Request,
    status: Annotated[str, Query(pattern="^(candidate|confirmed|rejected)$")] = "candidate",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Candidates waiting for a person's decision, strongest (lowest FMR) first."""
    with _ws(request).session() as s:
        rows = s.execute(
            select(Match, Person.name, FaceRow.evidence_sha256)
            .join(Person, Person.id == Match.person_id)
            .join(FaceRow, FaceRow.id == Match.face_id)
            .where(Match.status == status)
            .order_by(Match.fmr, Match.id)
            .limit(limit)
        ).all()
        matches = [_match_dict(m, sha, pname) for m, pname, sha in rows]
    return render(request, "review.html", {"matches": matches, "status": status})


def _decide(ws: Any, match_id: int, status: str, note: str) -> dict[str, Any]:
    """Record a person's decision through the face service (who and when; custody entry)."""
    with _write_lock:
        ws.faces.decide(match_id, status, note)
    with ws.session() as s:
        row = s.execute(
            select(Match, Person.name, FaceRow.evidence_sha256)
            .join(Person, Person.id == Match.person_id)
            .join(FaceRow, FaceRow.id == Match.face_id)
            .where(Match.id == match_id)
        ).first()
        if row is None:
            raise NotFoundError("no such candidate", subject=f"candidate {match_id}")
        return _match_dict(row[0], row[2], row[1])


def _decision_route(status: str):  # noqa: ANN202
    def decide(
        request: Request, match_id: int, note: Annotated[str, Form(max_length=10000)] = ""
    ) -> Response:
        match = _decide(_acting(request), match_id, status, note)
        action = "confirm" if status == "confirmed" else "reject"
        audit_event(
            request,
            action,
            f"candidate {match_id}",
            person=match["person"],
            evidence=match["evidence_sha256"],
            face_id=match["face_id"],
            fmr=match["fmr"],
            note=note,
        )
        if request.headers.get("hx-request") and not wants_json(request):
            return render(request, "_match_row.html", {"m": match})
        return done(request, match, "/review")

    decide.__name__ = f"{'confirm' if status == 'confirmed' else 'reject'}_candidate"
    decide.__doc__ = f"Mark a candidate {status} (recorded with who and when)."
    return decide


router.post("/candidates/{match_id}/confirm", tags=["review"], **guard("analyst"))(
    _decision_route("confirmed")
)
router.post("/candidates/{match_id}/reject", tags=["review"], **guard("analyst"))(_decision_route("rejected"))


# -- clusters ------------------------------------------------------------------------------------------
@router.get("/clusters", tags=["clusters"], **guard("viewer"))
def clusters_page(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    with _ws(request).session() as s:
        rows = s.execute(
            select(Cluster, func.count(FaceRow.id), func.min(FaceRow.id))
            .outerjoin(FaceRow, FaceRow.cluster_id == Cluster.id)
            .group_by(Cluster.id)
            .order_by(func.count(FaceRow.id).desc())
            .limit(limit)
        ).all()
        names = dict(s.execute(select(Person.id, Person.name)).all())
        clusters = [
            {
                "id": c.id,
                "name": c.name,
                "person_id": c.person_id,
                "person": names.get(c.person_id, ""),
                "faces": n,
                "sample_face_id": first,
                "created_at": c.created_at,
            }
            for c, n, first in rows
        ]
    return render(request, "clusters.html", {"clusters": clusters})


@router.get("/clusters/{cluster_id}", tags=["clusters"], **guard("viewer"))
def cluster_page(request: Request, cluster_id: int) -> Response:
    with _ws(request).session() as s:
        c = s.get(Cluster, cluster_id)
        if c is None:
            raise NotFoundError("no such cluster", subject=f"cluster {cluster_id}")
        faces = [_face_dict(f) for f in s.scalars(select(FaceRow).where(FaceRow.cluster_id == cluster_id))]
        person = s.get(Person, c.person_id) if c.person_id else None
        data = {
            "cluster": {
                "id": c.id,
                "name": c.name,
                "person_id": c.person_id,
                "person": person.name if person else "",
                "created_at": c.created_at,
            },
            "faces": faces,
        }
    return render(request, "cluster.html", data)


def _clusters(ws: Any) -> Any:
    from imint.faces.cluster import Clusters

    return Clusters(ws.faces)


def _face_cluster_job(ctx: JobContext) -> dict[str, Any]:
    """Re-cluster every unknown face of the workspace (honouring earlier merges and splits)."""
    ws = acting_workspace(ctx.ws, ctx.user)
    ctx.progress(0, 1, "clustering unknown faces", force=True)
    kwargs = {"fmr": ctx.params["fmr"]} if "fmr" in ctx.params else {}
    with _write_lock:
        clusters = _clusters(ws).run(**kwargs)
    ctx.progress(1, 1, f"{len(clusters)} clusters")
    return {"clusters": len(clusters), "faces": sum(len(c.face_ids) for c in clusters), "link": "/clusters"}


@router.post("/clusters/run", tags=["clusters"], status_code=202, **guard("analyst"))
def run_clustering(
    request: Request,
    fmr: Annotated[float | None, Form(gt=0, lt=1, description="false-match rate per link")] = None,
) -> Response:
    """Group the unknown faces of the workspace, as a background job."""
    me = principal(request)
    params = {"fmr": fmr} if fmr else {}
    job_id = request.app.state.jobs.submit("face-cluster", params, user=me.name, total=1)
    audit_event(request, "cluster-run", "workspace", job_id=job_id, **params)
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


@router.post("/clusters/merge", tags=["clusters"], **guard("analyst"))
def merge_clusters(
    request: Request, cluster_ids: Annotated[list[int], Form(description="clusters to merge into the first")]
) -> Response:
    """Merge clusters (kept as must-link constraints when clustering runs again)."""
    with _write_lock:
        kept = _clusters(_acting(request)).merge(cluster_ids)
    audit_event(request, "cluster-merge", f"cluster {kept}", merged=cluster_ids)
    return done(request, {"cluster_id": kept, "merged": cluster_ids}, f"/clusters/{kept}")


@router.post("/clusters/{cluster_id}/split", tags=["clusters"], **guard("analyst"))
def split_cluster(
    request: Request,
    cluster_id: int,
    face_ids: Annotated[list[int], Form(description="faces that move to a new cluster")],
) -> Response:
    """Move faces out of a cluster into a new one (kept as cannot-link constraints)."""
    with _write_lock:
        new_id = _clusters(_acting(request)).split(cluster_id, face_ids)
    audit_event(request, "cluster-split", f"cluster {cluster_id}", new_cluster=new_id, faces=face_ids)
    return done(request, {"cluster_id": cluster_id, "new_cluster_id": new_id}, f"/clusters/{new_id}")


@router.post("/clusters/{cluster_id}/rename", tags=["clusters"], **guard("analyst"))
def rename_cluster(
    request: Request, cluster_id: int, name: Annotated[str, Form(min_length=1, max_length=256)]
) -> Response:
    _clusters(_acting(request)).rename(cluster_id, name.strip())
    audit_event(request, "cluster-rename", f"cluster {cluster_id}", name=name)
    return done(request, {"cluster_id": cluster_id, "name": name}, f"/clusters/{cluster_id}")


@router.post("/clusters/{cluster_id}/promote", tags=["clusters"], status_code=201, **guard("analyst"))
def promote_cluster(
    request: Request, cluster_id: int, name: Annotated[str, Form(min_length=1, max_length=256)]
) -> Response:
    """Make a cluster an enrolled person: its best faces become reference photos."""
    name = name.strip()
    with _write_lock:
        person_id = _clusters(_acting(request)).promote(cluster_id, name)
    audit_event(request, "enroll", name, person_id=person_id, from_cluster=cluster_id)
    return done(request, {"person_id": person_id, "name": name}, f"/persons/{person_id}", status_code=201)
