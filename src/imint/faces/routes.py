"""Faces over HTTP: persons and watchlists, enroll, search, verify, review, clusters.

Thin over the library: each route checks its form, calls the function the CLI calls too
(``imint.faces.gallery``, ``search``, ``review``, ``cluster``...) as the caller
(``ws.as_user``), writes the audit entry and renders the answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from imint.api.deps import NOT_BLANK, audit_event, done, guard, jsonable, principal, render, wants_json
from imint.api.uploads import saved_uploads
from imint.errors import BadInputError, NotFoundError, ValidationError
from imint.faces import collection, gallery, review
from imint.faces.calibration import DEFAULT_FPIR
from imint.faces.cluster import Clusters
from imint.faces.crops import face_crop_jpeg
from imint.faces.inbox import inbox_media
from imint.faces.jobs import photo_summary
from imint.faces.pairs import candidate_pair_jpeg
from imint.faces.search import recent_media
from imint.media.sniff import is_video_file

router = APIRouter()

MAX_IMAGE_BYTES = 40 * 1024 * 1024


def _ws(request: Request) -> Any:
    return request.app.state.ws


def _acting(request: Request) -> Any:
    """The workspace acting as the caller (custody entries and decisions carry their name)."""
    return request.app.state.ws.as_user(principal(request).name)


def _file_limit(request: Request) -> int:
    return min(MAX_IMAGE_BYTES, request.app.state.max_upload_bytes)


# -- persons ------------------------------------------------------------------------------------
@router.get("/persons", tags=["persons"], **guard("viewer"))
def persons_page(request: Request, q: Annotated[str | None, Query(max_length=256)] = None) -> Response:
    """Enrolled persons (filter by a part of the name with ``q``)."""
    ws = _ws(request)
    data = {
        "persons": gallery.persons_overview(ws, q),
        "q": q or "",
        "watchlists": gallery.watchlist_names(ws),
    }
    return render(request, "persons.html", data)


@router.get("/persons/{person_id}", tags=["persons"], **guard("viewer"))
def person_page(request: Request, person_id: int) -> Response:
    ws = _ws(request)
    data = {
        **gallery.person_detail(ws, person_id),
        "matches": review.person_candidates(ws, person_id),
        "appearances": collection.person_appearances(ws.faces, person_id, limit=100),
    }
    return render(request, "person.html", data)


@router.get("/persons/{person_id}/appearances", tags=["persons"], **guard("viewer", 404))
def person_appearances(
    request: Request,
    person_id: int,
    fpir: Annotated[float, Query(gt=0, lt=1)] = DEFAULT_FPIR,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> Response:
    """Where else the person appears in the workspace, at the collection-size operating point, strongest
    first (those already queued for review carry their candidate id and status; nothing is recorded)."""
    data = collection.person_appearances(_ws(request).faces, person_id, fpir=fpir, limit=limit)
    return JSONResponse(jsonable(data))


@router.post(
    "/persons", tags=["persons"], status_code=201, **guard("analyst", uploads={"photos": ("image",)})
)
def enroll(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=256, pattern=NOT_BLANK)],
    photos: Annotated[list[UploadFile], File(min_length=1, description="reference photos (JPEG, PNG, WebP)")],
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
            result = dataclasses.asdict(ws.faces.enroll(name, paths, **kwargs))
        except Exception as exc:
            audit_event(request, "enroll", name, outcome="failed", error=str(exc), photos=len(paths))
            raise
    person_id = result["person_id"]
    audit_event(request, "enroll", name, person_id=person_id, photos=[p.name for p in paths])
    data = {"person_id": person_id, "name": name, **result}
    return done(request, data, f"/persons/{person_id}", status_code=201)


@router.post("/persons/{person_id}/update", tags=["persons"], **guard("analyst", 409))
def update_person(
    request: Request,
    person_id: int,
    name: Annotated[str | None, Form(max_length=256)] = None,
    notes: Annotated[str | None, Form(max_length=10000)] = None,
    aliases: Annotated[str | None, Form(max_length=2000, description="comma-separated")] = None,
) -> Response:
    """Rename a person, or change their notes or aliases."""
    ws = _acting(request)
    old_name = gallery.person_name(ws, person_id)
    alias_list = [a.strip() for a in aliases.split(",") if a.strip()] if aliases is not None else None
    ws.faces.update_person(old_name, new_name=(name or "").strip() or None, notes=notes, aliases=alias_list)
    audit_event(request, "person-update", old_name, person_id=person_id, new_name=name, notes=notes)
    return done(request, gallery.person_page_dict(ws, person_id), f"/persons/{person_id}")


@router.post("/persons/{person_id}/delete", tags=["persons"], **guard("analyst"))
def delete_person(request: Request, person_id: int) -> Response:
    """Remove a person and their reference photos from the gallery (the evidence files stay)."""
    ws = _acting(request)
    name = gallery.person_name(ws, person_id)
    ws.faces.remove_person(name)
    audit_event(request, "person-delete", name, person_id=person_id)
    return done(request, {"deleted": name, "person_id": person_id}, "/persons")


# -- watchlists ---------------------------------------------------------------------------------
@router.get("/watchlists", tags=["watchlists"], **guard("viewer"))
def watchlists_page(request: Request) -> Response:
    return render(request, "watchlists.html", {"watchlists": gallery.watchlist_summaries(_ws(request))})


@router.get("/watchlists/{watchlist_id}", tags=["watchlists"], **guard("viewer"))
def watchlist_page(request: Request, watchlist_id: int) -> Response:
    return render(request, "watchlist.html", gallery.watchlist_detail(_ws(request), watchlist_id))


@router.post("/watchlists", tags=["watchlists"], status_code=201, **guard("analyst", 409))
def create_watchlist(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=256, pattern=NOT_BLANK)],
    description: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    name = name.strip()
    data = gallery.create_watchlist(_acting(request), name, description)
    audit_event(request, "watchlist-create", name)
    return done(request, data, f"/watchlists/{data['id']}", status_code=201)


@router.post("/watchlists/{watchlist_id}/members", tags=["watchlists"], **guard("analyst"))
def change_watchlist_members(
    request: Request,
    watchlist_id: int,
    person_id: Annotated[int, Form()],
    action: Annotated[Literal["add", "remove"], Form()] = "add",
) -> Response:
    """Add a person to a watchlist, or remove one (``action=remove``)."""
    names = gallery.set_watchlist_member(_acting(request), watchlist_id, person_id, member=action == "add")
    data = {**names, "action": action}
    audit_event(request, f"watchlist-{action}", f"{data['watchlist']}: {data['person']}")
    return done(request, data, f"/watchlists/{watchlist_id}")


# -- search -------------------------------------------------------------------------------------
@router.get("/search", tags=["search"], **guard("analyst"))
def search_page(request: Request) -> Response:
    ws = _ws(request)
    data = {"watchlists": gallery.watchlist_names(ws), "recent_evidence": recent_media(ws)}
    return render(request, "search.html", data)


def _search_options(watchlist: str, top_k: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if watchlist:
        options["watchlist"] = watchlist
    if top_k:
        options["k"] = top_k
    return options


def _search_job(request: Request, stored: list[Any], options: dict[str, Any]) -> Response:
    me = principal(request)
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


@router.post(
    "/search",
    tags=["search"],
    **guard("analyst", 202, 404, needs_one_of=("files", "evidence"), uploads={"files": ("image", "video")}),
)
def search(
    request: Request,
    files: Annotated[
        list[UploadFile] | None, File(min_length=1, description="photos or videos to search")
    ] = None,
    evidence: Annotated[
        list[Annotated[str, Field(max_length=64)]] | None,
        Form(min_length=1, description="hashes (or unique prefixes) of evidence already stored"),
    ] = None,
    watchlist: Annotated[str, Form(max_length=256)] = "",
    top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
) -> Response:
    """Find enrolled people in photos or videos. One photo is answered at once (the response holds
    the results); several files, or a video, become a background job (the response links to it)."""
    ws = _acting(request)
    source = f"upload by {principal(request).name}"
    options = _search_options(watchlist, top_k)
    hashes = [h.strip() for h in evidence or [] if h.strip()]
    uploads = [f for f in files or [] if f.filename or f.size]
    if not uploads and not hashes:
        raise BadInputError("send files or evidence hashes to search", subject="files")
    stored = [ws.evidence(h) for h in hashes]
    limit = request.app.state.max_upload_bytes
    if len(uploads) + len(stored) == 1 and (uploads or stored[0].kind == "image"):
        with (
            saved_uploads(uploads, allowed=("image", "video"), max_file_bytes=limit)
            if uploads
            else contextlib.nullcontext([Path(stored[0].stored_path)]) as paths
        ):
            if not uploads or not is_video_file(paths[0]):
                results = ws.faces.search(paths, **options)
                return _search_answer(
                    request, results, paths[0].name if uploads else stored[0].original_name, options
                )
            return _search_job(request, [ws.ingest(paths[0], source=source)], options)
    if uploads:
        with saved_uploads(uploads, allowed=("image", "video"), max_file_bytes=limit) as paths:
            stored += [ws.ingest(p, source=source) for p in paths]
    return _search_job(request, stored, options)


def _search_answer(request: Request, results: list[Any], name: str, options: dict[str, Any]) -> Response:
    result = results[0]
    if result.error:
        audit_event(request, "search", name, outcome="failed", error=result.error)
        raise BadInputError(result.error, subject=name)
    data = {**result.to_dict(), "path": name}  # the client's name, not the server's temporary path
    summary = photo_summary(data, name)
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


@router.post("/search/folder", tags=["search"], status_code=202, **guard("analyst", 404))
def search_folder(
    request: Request,
    folder: Annotated[
        str, Form(max_length=1000, pattern="^[^\x00]*$", description="a folder inside <workspace>/inbox")
    ] = ".",
    watchlist: Annotated[str, Form(max_length=256)] = "",
    top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
) -> Response:
    """Search every photo and video of a folder in ``<workspace>/inbox``, as a background job."""
    me = principal(request)
    n_files = len(inbox_media(_ws(request), folder))
    if not n_files:
        raise NotFoundError("no photos or videos in this folder", subject=folder)
    params = {"folder": folder, "options": _search_options(watchlist, top_k)}
    job_id = request.app.state.jobs.submit("face-search-folder", params, user=me.name, total=n_files)
    audit_event(request, "search", f"folder {folder}", job_id=job_id, files=n_files)
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


# -- faces ---------------------------------------------------------------------------------------
@router.get("/faces/{face_id}/crop", tags=["evidence"], **guard("viewer", media_types=("image/jpeg",)))
def face_crop(request: Request, face_id: int) -> Response:
    """A JPEG crop around a face (for result pages and the review queue)."""
    return Response(
        face_crop_jpeg(_ws(request), face_id),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get(
    "/candidates/{candidate_id}/pair.jpg", tags=["review"], **guard("viewer", media_types=("image/jpeg",))
)
def candidate_pair(request: Request, candidate_id: int) -> Response:
    """The candidate's face beside the person's closest reference face (same size, qualities, FMR)."""
    return Response(
        candidate_pair_jpeg(_ws(request), candidate_id),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=60"},
    )


# -- verify -----------------------------------------------------------------------------------------
@router.post("/verify", tags=["search"], **guard("analyst", uploads={"a": ("image",), "b": ("image",)}))
def verify(
    request: Request,
    a: Annotated[UploadFile, File(description="first photo")],
    b: Annotated[UploadFile, File(description="second photo")],
) -> Response:
    """Is it the same person? Compares the main faces of two photos (score and FMR)."""
    ws = _acting(request)
    with saved_uploads([a, b], allowed=("image",), max_file_bytes=_file_limit(request)) as paths:
        data = ws.faces.verify(paths[0], paths[1]).to_dict()
    audit_event(request, "verify", f"{paths[0].name} vs {paths[1].name}", result=data)
    if wants_json(request):
        return JSONResponse(jsonable(data))
    return render(request, "verify.html", {"result": data, "a": paths[0].name, "b": paths[1].name})


# -- review queue ----------------------------------------------------------------------------------
@router.get("/review", tags=["review"], **guard("viewer"))
def review_page(
    request: Request,
    status: Annotated[Literal["candidate", "confirmed", "rejected"], Query()] = "candidate",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Candidates waiting for a person's decision, strongest (lowest FMR) first."""
    matches = _ws(request).faces.list_matches(status, limit=limit)
    return render(request, "review.html", {"matches": matches, "status": status})


def _decision_route(status: str):  # noqa: ANN202
    def decide(
        request: Request, candidate_id: int, note: Annotated[str, Form(max_length=10000)] = ""
    ) -> Response:
        ws = _acting(request)
        ws.faces.decide(candidate_id, status, note)
        candidate = review.get_candidate(ws, candidate_id)
        action = "confirm" if status == "confirmed" else "reject"
        audit_event(
            request,
            action,
            f"candidate {candidate_id}",
            person=candidate["person"],
            evidence=candidate["evidence_sha256"],
            face_id=candidate["face_id"],
            fmr=candidate["fmr"],
            note=note,
        )
        if request.headers.get("hx-request") and not wants_json(request):
            return render(request, "_match_row.html", {"m": candidate})
        return done(request, candidate, "/review")

    decide.__name__ = f"{'confirm' if status == 'confirmed' else 'reject'}_candidate"
    decide.__doc__ = f"Mark a candidate {status} (recorded with who and when)."
    return decide


router.post("/candidates/{candidate_id}/confirm", tags=["review"], **guard("analyst"))(
    _decision_route("confirmed")
)
router.post("/candidates/{candidate_id}/reject", tags=["review"], **guard("analyst"))(
    _decision_route("rejected")
)


# -- clusters ------------------------------------------------------------------------------------------
@router.get("/clusters", tags=["clusters"], **guard("viewer"))
def clusters_page(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:
    return render(request, "clusters.html", {"clusters": Clusters(_ws(request).faces).overview(limit)})


# ``:int``: /clusters/run and /clusters/merge are not a cluster's page (a GET there is 405, not 422).
@router.get("/clusters/{cluster_id:int}", tags=["clusters"], **guard("viewer"))
def cluster_page(request: Request, cluster_id: int) -> Response:
    return render(request, "cluster.html", Clusters(_ws(request).faces).detail(cluster_id))


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


@router.post("/clusters/merge", tags=["clusters"], **guard("analyst", 404))
def merge_clusters(
    request: Request,
    cluster_ids: Annotated[list[int], Form(min_length=2, description="clusters to merge into the first")],
) -> Response:
    """Merge clusters (kept as must-link constraints when clustering runs again)."""
    kept = Clusters(_acting(request).faces).merge(cluster_ids)
    audit_event(request, "cluster-merge", f"cluster {kept}", merged=cluster_ids)
    return done(request, {"cluster_id": kept, "merged": cluster_ids}, f"/clusters/{kept}")


@router.post("/clusters/{cluster_id}/split", tags=["clusters"], **guard("analyst", 409))
def split_cluster(
    request: Request,
    cluster_id: int,
    face_ids: Annotated[list[int], Form(min_length=1, description="faces that move to a new cluster")],
) -> Response:
    """Move faces out of a cluster into a new one (kept as cannot-link constraints)."""
    new_id = Clusters(_acting(request).faces).split(cluster_id, face_ids)
    audit_event(request, "cluster-split", f"cluster {cluster_id}", new_cluster=new_id, faces=face_ids)
    return done(request, {"cluster_id": cluster_id, "new_cluster_id": new_id}, f"/clusters/{new_id}")


@router.post("/clusters/{cluster_id}/rename", tags=["clusters"], **guard("analyst"))
def rename_cluster(
    request: Request,
    cluster_id: int,
    name: Annotated[str, Form(min_length=1, max_length=256, pattern=NOT_BLANK)],
) -> Response:
    Clusters(_acting(request).faces).rename(cluster_id, name.strip())
    audit_event(request, "cluster-rename", f"cluster {cluster_id}", name=name)
    return done(request, {"cluster_id": cluster_id, "name": name}, f"/clusters/{cluster_id}")


@router.post("/clusters/{cluster_id}/promote", tags=["clusters"], status_code=201, **guard("analyst"))
def promote_cluster(
    request: Request,
    cluster_id: int,
    name: Annotated[str, Form(min_length=1, max_length=256, pattern=NOT_BLANK)],
) -> Response:
    """Make a cluster an enrolled person: its best faces become reference photos."""
    name = name.strip()
    person_id = Clusters(_acting(request).faces).promote(cluster_id, name)
    audit_event(request, "enroll", name, person_id=person_id, from_cluster=cluster_id)
    return done(request, {"person_id": person_id, "name": name}, f"/persons/{person_id}", status_code=201)
