"""Cases over HTTP: cases, graded claims, their evidence and links, and the case report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response

from imint import cases
from imint.api.deps import (
    DATE_RANGE,
    FIGURE,
    NOT_BLANK,
    PLACE_NAMES,
    RECORD_TYPES,
    WHITE_SPACE,
    StrictBool,
    audit_event,
    done,
    guard,
    principal,
    render,
)
from imint.api.uploads import saved_uploads
from imint.cases.casemap import case_map
from imint.cases.overview import case_overview
from imint.cases.report import build_report, report_path
from imint.errors import BadInputError, NotFoundError

router = APIRouter()

# imint.cases.grading's scales, as schema enums (a form sends them as text).
Reliability = Literal["A", "B", "C", "D", "E", "F"]
Credibility = Literal["1", "2", "3", "4", "5", "6"]
Relation = Literal["supports", "contradicts", "context"]
Status = Literal["claimed", "unconfirmed", "corroborated", "contradicted", "confirmed"]
# A case's handle: no white space, not only digits (imint.cases.service.create_case).
CASE_NAME = rf"^[^{WHITE_SPACE}]*[^{WHITE_SPACE}\d][^{WHITE_SPACE}]*$"


def _acting(request: Request) -> Any:
    return request.app.state.ws.as_user(principal(request).name)


@router.get("/cases", tags=["cases"], **guard("viewer"))
def cases_page(request: Request) -> Response:
    items = [c.to_dict() for c in cases.list_cases(request.app.state.ws)]
    return render(request, "cases.html", {"cases": items})


@router.post("/cases", tags=["cases"], status_code=201, **guard("analyst", 409))
def create_case(
    request: Request,
    name: Annotated[
        str,
        Form(
            min_length=1,
            max_length=128,
            # Documented, and checked by create_case, whose refusal says what a case name is.
            json_schema_extra={"pattern": CASE_NAME},
            description="a short handle without spaces, not only digits",
        ),
    ],
    title: Annotated[str, Form(max_length=500)] = "",
    summary: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    info = cases.create_case(_acting(request), name, title=title, summary=summary)
    audit_event(request, "case-create", info.name, case_id=info.id)
    return done(request, info.to_dict(), f"/cases/{info.id}", status_code=201)


@router.get("/cases/{case_id}", tags=["cases"], **guard("viewer"))
def case_page(request: Request, case_id: int) -> Response:
    return render(request, "case.html", case_overview(request.app.state.ws, case_id))


_GEOJSON_ANSWER = {
    "description": "A GeoJSON FeatureCollection.",
    "content": {
        "application/geo+json": {
            "schema": {
                "type": "object",
                "required": ["type", "features"],
                "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array"}},
            }
        }
    },
}
_MAP_ROUTE = guard("viewer")
_MAP_ROUTE["responses"][200] = _GEOJSON_ANSWER


@router.get("/cases/{case_id}/map", tags=["cases"], response_class=Response, **_MAP_ROUTE)
def case_map_json(request: Request, case_id: int) -> Response:
    """The case's map as GeoJSON (also at ``/cases/{id}/map.json``): claimed places, photos' EXIF GPS
    points with their capture time in UTC and local time, lines where a photo contradicts a claimed place."""
    return JSONResponse(case_map(request.app.state.ws, case_id), media_type="application/geo+json")


@router.post(
    "/cases/{case_id}/claims",
    tags=["cases"],
    status_code=201,
    **guard("analyst", requires={"figure": "quantity"}),
)
def add_claim(
    request: Request,
    case_id: int,
    text: Annotated[str, Form(min_length=1, max_length=20000, pattern=NOT_BLANK)],
    source: Annotated[str, Form(max_length=2000)] = "",
    reliability: Annotated[Reliability | None, Form(description="Admiralty A-F")] = None,
    credibility: Annotated[Credibility | None, Form(description="Admiralty 1-6")] = None,
    figure: Annotated[str, Form(max_length=200, **FIGURE)] = "",
    quantity: Annotated[str, Form(max_length=500, description="what the figure counts")] = "",
    dates: Annotated[str, Form(max_length=100, **DATE_RANGE)] = "",
    places: Annotated[str, Form(max_length=2000, **PLACE_NAMES)] = "",
) -> Response:
    ws = _acting(request)
    info = cases.get_case(ws, case_id)
    claim = cases.add_claim(
        ws,
        info.id,
        text,
        source=source,
        reliability=reliability,
        credibility=credibility,
        figure=figure or None,
        quantity=quantity,
        dates=dates or None,
        places=[p.strip() for p in places.split(",") if p.strip()],
    )
    audit_event(request, "claim-add", f"claim {claim.id}", case=info.name)
    return done(request, claim.to_dict(), f"/cases/{info.id}#claim-{claim.id}", status_code=201)


@router.post(
    "/cases/{case_id}/evidence",
    tags=["cases"],
    status_code=201,
    **guard(
        "analyst",
        needs_one_of=("files", "evidence"),
        uploads={"files": ("image", "video", "raster")},
    ),
)
def add_case_evidence(
    request: Request,
    case_id: int,
    files: Annotated[
        list[UploadFile] | None, File(min_length=1, description="photos, videos, GeoTIFFs")
    ] = None,
    evidence: Annotated[
        str,
        Form(max_length=64, description="or the hash (a unique prefix) of stored evidence"),
    ] = "",
    source: Annotated[str, Form(max_length=2000, description="where it came from (URL, person)")] = "",
    note: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """Add evidence to a case: uploads go through the one ingest path; stored files by hash."""
    ws = _acting(request)
    info = cases.get_case(ws, case_id)
    added: list[dict[str, str]] = []
    if files and any(f.filename or f.size for f in files):
        with saved_uploads(
            files, allowed=("image", "video", "raster"), max_file_bytes=request.app.state.max_upload_bytes
        ) as paths:
            for ev in cases.add_evidence(
                ws, info.id, paths, source=source or f"upload by {ws.user}", note=note
            ):
                added.append({"sha256": ev.sha256, "name": ev.original_name})
    if evidence.strip():
        ev = ws.evidence(evidence.strip())
        cases.attach_evidence(ws, info.id, ev.sha256, note=note)
        added.append({"sha256": ev.sha256, "name": ev.original_name})
    if not added:
        raise BadInputError("send files or an evidence hash", subject="files")
    audit_event(request, "case-evidence-add", info.name, evidence=[a["sha256"] for a in added])
    return done(request, {"case": info.name, "added": added}, f"/cases/{info.id}", status_code=201)


@router.post(
    "/claims/{claim_id}/links",
    tags=["cases"],
    status_code=201,
    **guard("analyst", needs_one_of=("evidence", "record"), exactly_one=True),
)
def link_claim(
    request: Request,
    claim_id: int,
    relation: Annotated[Relation, Form()],
    evidence: Annotated[str, Form(max_length=64)] = "",
    record: Annotated[
        str,
        Form(
            max_length=64,
            pattern=r"^\s*[A-Za-z_-]+:\d+\s*$",
            json_schema_extra={RECORD_TYPES: True},
            description="TYPE:ID, e.g. match:12",
        ),
    ] = "",
    note: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """Link a claim to evidence (by hash) or to a record made from evidence (a match, a detection...)."""
    ws = _acting(request)
    link = cases.link_claim(
        ws, claim_id, relation, evidence=evidence.strip() or None, record=record.strip() or None, note=note
    )
    claim = cases.get_claim(ws, claim_id)
    audit_event(request, "claim-link", f"claim {claim_id}", relation=relation, linked=link.target)
    return done(request, link.to_dict(), f"/cases/{claim.case_id}#claim-{claim_id}", status_code=201)


@router.post(
    "/claims/{claim_id}/grade",
    tags=["cases"],
    **guard("analyst", needs_one_of=("reliability", "credibility")),
)
def grade_claim(
    request: Request,
    claim_id: int,
    reliability: Annotated[Reliability | None, Form()] = None,
    credibility: Annotated[Credibility | None, Form()] = None,
    note: Annotated[str | None, Form(max_length=10000)] = None,
) -> Response:
    claim = cases.grade_claim(
        _acting(request),
        claim_id,
        reliability=reliability,
        credibility=credibility,
        note=note,
    )
    audit_event(request, "claim-grade", f"claim {claim_id}", grading=claim.grading)
    return done(request, claim.to_dict(), f"/cases/{claim.case_id}#claim-{claim_id}")


@router.post("/claims/{claim_id}/status", tags=["cases"], **guard("analyst"))
def set_claim_status(
    request: Request,
    claim_id: int,
    status: Annotated[Status, Form()],
    note: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """A person decides a claim's status (the machine only proposes one)."""
    claim = cases.set_status(_acting(request), claim_id, status, note=note)
    audit_event(request, "claim-status", f"claim {claim_id}", status=claim.status, note=note)
    return done(request, claim.to_dict(), f"/cases/{claim.case_id}#claim-{claim_id}")


# -- reports --------------------------------------------------------------------------------------


@router.post("/cases/{case_id}/report", tags=["reports"], status_code=202, **guard("analyst"))
def build_case_report(request: Request, case_id: int, pdf: Annotated[StrictBool, Form()] = True) -> Response:
    """Build the case report (HTML, and PDF unless ``pdf=false``) as a background job."""
    info = cases.get_case(request.app.state.ws, case_id)
    me = principal(request)
    job_id = request.app.state.jobs.submit(
        "case-report", {"case_id": info.id, "pdf": pdf}, user=me.name, total=1
    )
    audit_event(request, "report-build", info.name, job_id=job_id, pdf=pdf)
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


@router.get("/cases/{case_id}/report", tags=["reports"], **guard("viewer", media_types=("text/html",)))
def case_report(request: Request, case_id: int, download: StrictBool = False) -> Response:
    """The case report as HTML, built from the current records."""
    ws = _acting(request)
    info = cases.get_case(ws, case_id)
    # Built afresh from the current records on every view (the HTML part is quick; the PDF is a job).
    path = build_report(ws, info.id, pdf=False).html
    audit_event(request, "export", f"case {info.name} report", format="html", download=download)
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        filename=path.name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )


@router.get(
    "/cases/{case_id}/report/pdf", tags=["reports"], **guard("viewer", media_types=("application/pdf",))
)
def case_report_pdf(request: Request, case_id: int) -> Response:
    """The case report's PDF, once built (``POST /cases/{id}/report``)."""
    info = cases.get_case(request.app.state.ws, case_id)
    path = report_path(request.app.state.ws, info, ".pdf")
    if not path.exists():
        raise NotFoundError(
            "no PDF report built yet; build it from the case page", subject=f"case {info.name}"
        )
    audit_event(request, "export", f"case {info.name} report", format="pdf")
    return FileResponse(path, media_type="application/pdf", filename=path.name)
