"""Sites over HTTP: watched areas, their scenes, ship detections per date on a map, and changes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from imint.api.deps import (
    DATE_LIST,
    GEOJSON_POLYGON,
    ISO_DATE,
    NOT_BLANK,
    audit_event,
    done,
    guard,
    not_found_when_refused,
    principal,
    render,
)
from imint.api.uploads import saved_uploads
from imint.sites import areas, overview, service

router = APIRouter()


def _acting(request: Request) -> Any:
    return request.app.state.ws.as_user(principal(request).name)


@router.get("/sites", tags=["sites"], **guard("viewer"))
def sites_page(request: Request) -> Response:
    return render(request, "sites.html", {"sites": overview.site_summaries(request.app.state.ws)})


@router.post(
    "/sites",
    tags=["sites"],
    status_code=201,
    **guard("analyst", 404, 409, needs_one_of=("polygon", ("lon", "lat"), "place")),
)
def add_site(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=256, pattern=NOT_BLANK)],
    place: Annotated[str, Form(max_length=256, description="a city in the offline gazetteer")] = "",
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    radius_m: Annotated[float | None, Form(gt=0, le=500_000)] = None,
    polygon: Annotated[str, Form(max_length=200_000, **GEOJSON_POLYGON)] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """A watched area: a gazetteer place, a point with a radius, or a GeoJSON polygon (the first given
    of polygon, point, place counts)."""
    kwargs: dict[str, Any] = {"notes": notes}
    if polygon.strip():
        kwargs["polygon"] = service.read_polygon_json(polygon)
    elif lon is not None and lat is not None:
        kwargs["point"] = (lon, lat)
    elif place.strip():
        kwargs["place"] = place.strip()
    if radius_m is not None:
        kwargs["radius_m"] = radius_m
    site = service.add_site(_acting(request), name.strip(), **kwargs)
    audit_event(request, "site-add", site.name, site_id=site.id)
    return done(request, site.to_dict(), f"/sites/{site.id}", status_code=201)


@router.get("/sites/{site_id}", tags=["sites"], **guard("viewer"))
def site_page(request: Request, site_id: int) -> Response:
    """A site on a map: its area, each scene's footprint and detections, one date at a time."""
    return render(request, "site.html", overview.site_overview(request.app.state.ws, site_id))


@router.post(
    "/sites/{site_id}/scenes",
    tags=["sites"],
    status_code=202,
    **guard("analyst", 201, 409, uploads={"scene": ("raster", "image")}),
)
def add_scene(
    request: Request,
    site_id: int,
    scene: Annotated[UploadFile, File(description="a GeoTIFF (or a PNG/JPEG chip in pixel mode)")],
    date: Annotated[
        str, Form(max_length=40, **ISO_DATE, description="YYYY-MM-DD; else read from the file's tags")
    ] = "",
    modality: Annotated[Literal["SAR", "optical"] | None, Form(description="else guessed")] = None,
    detector: Annotated[Literal["cfar", "cnn", "none"], Form()] = "cfar",
) -> Response:
    """Add a scene to a site; ship detection then runs as a background job (``detector=none`` skips it)."""
    ws = _acting(request)
    site = service.get_site_by_id(ws, site_id)
    with saved_uploads(
        [scene], allowed=("raster", "image"), max_file_bytes=request.app.state.max_upload_bytes
    ) as paths:
        sc = service.add_scene(ws, paths[0], site=site.name, date=date or None, modality=modality)
    audit_event(request, "scene-add", sc.evidence_sha256, site=site.name, scene_id=sc.id, date=sc.date)
    data: dict[str, Any] = {"scene": sc.to_dict()}
    if detector == "none":
        return done(request, data, f"/sites/{site_id}", status_code=201)
    job_id = request.app.state.jobs.submit(
        "site-detect", {"scene_id": sc.id, "detector": detector}, user=ws.user, total=0
    )
    data.update(job_id=job_id, job=f"/jobs/{job_id}")
    return done(request, data, f"/jobs/{job_id}", status_code=202)


@router.post("/scenes/{scene_id}/detect", tags=["sites"], status_code=202, **guard("analyst"))
def detect(
    request: Request, scene_id: int, detector: Annotated[Literal["cfar", "cnn"], Form()] = "cfar"
) -> Response:
    """Run ship detection on a scene again (as a background job)."""
    service.get_scene(request.app.state.ws, scene_id)
    me = principal(request)
    job_id = request.app.state.jobs.submit(
        "site-detect", {"scene_id": scene_id, "detector": detector}, user=me.name
    )
    audit_event(request, "detect-ships", f"scene {scene_id}", job_id=job_id, detector=detector)
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


@router.get("/scenes/{scene_id}", tags=["sites"], **guard("viewer"))
def scene_page(request: Request, scene_id: int) -> Response:
    return render(request, "scene.html", overview.scene_overview(request.app.state.ws, scene_id))


@router.get("/scenes/{scene_id}/quicklook", tags=["sites"], **guard("viewer", media_types=("image/png",)))
def scene_quicklook(request: Request, scene_id: int) -> Response:
    """A PNG of the scene with its detections boxed."""
    png = overview.scene_quicklook_png(request.app.state.ws, scene_id, max_side=1600)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


@router.get("/sites/{site_id}/changes", tags=["sites"], **guard("viewer"))
def site_changes(
    request: Request, site_id: int, match_distance_m: Annotated[float, Query(gt=0, le=10_000)] = 200.0
) -> Response:
    """Ships per date and arrivals / departures / stayed between consecutive dates (GeoJSON inside)."""
    data = overview.changes_overview(request.app.state.ws, site_id, match_distance_m=match_distance_m)
    return render(request, "site_changes.html", data)


@router.get("/sites/{site_id}/changes/chart", tags=["sites"], **guard("viewer", media_types=("image/png",)))
def site_changes_chart(request: Request, site_id: int) -> Response:
    """Ships per date with arrivals and departures, as a PNG."""
    return Response(overview.changes_chart_png(request.app.state.ws, site_id), media_type="image/png")


@router.get("/scenes/{scene_id}/overlay.png", tags=["sites"], **guard("viewer", media_types=("image/png",)))
def scene_overlay(request: Request, scene_id: int) -> Response:
    """The scene warped to EPSG:4326 (RGBA PNG, transparent outside), laid under the site map's detections."""
    with not_found_when_refused():
        png = overview.scene_overlay_png(request.app.state.ws, scene_id)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/sites/{site_id}/activity", tags=["sites"], **guard("viewer"))
def site_activity(
    request: Request,
    site_id: int,
    claim_dates: Annotated[str, Query(max_length=100, **DATE_LIST)] = "",
) -> Response:
    """Activity index per area of interest and date, with gatherings (significant rises) first."""
    dates = areas.parse_claim_dates(claim_dates)
    data = overview.activity_overview(request.app.state.ws, site_id, claim_dates=dates)
    return render(request, "site_activity.html", data)


@router.get("/sites/{site_id}/activity/chart", tags=["sites"], **guard("viewer", media_types=("image/png",)))
def site_activity_chart(
    request: Request,
    site_id: int,
    claim_dates: Annotated[str, Query(max_length=100, **DATE_LIST)] = "",
) -> Response:
    """The activity time series of the site's areas as a PNG (claim dates dashed, gatherings circled)."""
    dates = areas.parse_claim_dates(claim_dates)
    with not_found_when_refused():
        png = overview.activity_chart_png(request.app.state.ws, site_id, claim_dates=dates)
    return Response(png, media_type="image/png")


@router.post("/sites/{site_id}/areas", tags=["sites"], status_code=201, **guard("analyst", 409))
def add_area(
    request: Request,
    site_id: int,
    name: Annotated[str, Form(min_length=1, max_length=256, pattern=NOT_BLANK)],
    polygon: Annotated[str, Form(min_length=1, max_length=200_000, **GEOJSON_POLYGON)],
    notes: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """An area of interest of the site (a depot, a quay): its activity is measured over the dates."""
    ws = _acting(request)
    site = service.get_site_by_id(ws, site_id)
    area = areas.add_area(ws, site.name, name.strip(), service.read_polygon_json(polygon), notes=notes)
    audit_event(request, "area-add", f"{site.name}/{area.name}", site_id=site.id, area_id=area.id)
    return done(request, area.to_dict(), f"/sites/{site_id}", status_code=201)


@router.get("/sites/{site_id}/coastline.geojson", tags=["sites"], **guard("viewer"))
def site_coastline(request: Request, site_id: int) -> Response:
    """Coastlines around the site from an offline 30" land mask (GeoJSON, EPSG:4326), for the map."""
    data = overview.site_coastline(request.app.state.ws, site_id)
    return JSONResponse(data, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/sites/{site_id}/borders.geojson", tags=["sites"], **guard("viewer"))
def site_borders(request: Request, site_id: int) -> Response:
    """Country borders around the site from offline Natural Earth 1:10 m data (GeoJSON, EPSG:4326)."""
    data = overview.site_borders(request.app.state.ws, site_id)
    return JSONResponse(data, headers={"Cache-Control": "private, max-age=3600"})
