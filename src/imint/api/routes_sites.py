"""Sites over HTTP: watched areas, their scenes, ship detections per date on a map, and changes."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from imint import sites
from imint.api import audit
from imint.api.acting import acting_workspace
from imint.api.deps import audit_event, done, guard, principal, render
from imint.api.jobs import JobContext
from imint.api.uploads import saved_uploads
from imint.errors import NotFoundError, ValidationError

router = APIRouter()
DETECTORS = ("cfar", "cnn")


def _acting(request: Request) -> Any:
    return acting_workspace(request.app.state.ws, principal(request).name)


def _site_by_id(ws: Any, site_id: int) -> Any:
    for site in sites.list_sites(ws):
        if site.id == site_id:
            return site
    raise NotFoundError("no such site", subject=f"site {site_id}")


def _bounds(geometries: list[dict[str, Any]]) -> list[list[float]] | None:
    """[[south, west], [north, east]] around GeoJSON geometries, for Leaflet's fitBounds."""
    from shapely.geometry import shape
    from shapely.ops import unary_union

    shapes = [shape(g) for g in geometries if g]
    if not shapes:
        return None
    w, s, e, n = unary_union(shapes).bounds
    return [[s, w], [n, e]]


@router.get("/sites", tags=["sites"], **guard("viewer"))
def sites_page(request: Request) -> Response:
    ws = request.app.state.ws
    scenes = sites.list_scenes(ws)
    items = []
    for site in sites.list_sites(ws):
        mine = [sc for sc in scenes if sc.site == site.name]
        items.append(
            {**site.to_dict(), "scenes": len(mine), "dates": sorted({sc.date for sc in mine if sc.date})}
        )
    return render(request, "sites.html", {"sites": items})


@router.post("/sites", tags=["sites"], status_code=201, **guard("analyst"))
def add_site(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=256)],
    place: Annotated[str, Form(max_length=256, description="a city in the offline gazetteer")] = "",
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    radius_m: Annotated[float | None, Form(gt=0, le=500_000)] = None,
    polygon: Annotated[str, Form(max_length=200_000, description="GeoJSON Polygon in lon, lat")] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """A watched area: a gazetteer place, a point with a radius, or a GeoJSON polygon."""
    import json

    kwargs: dict[str, Any] = {"notes": notes}
    if polygon.strip():
        try:
            kwargs["polygon"] = json.loads(polygon)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not JSON ({exc.msg})", subject="polygon") from None
    elif lon is not None and lat is not None:
        kwargs["point"] = (lon, lat)
    elif place.strip():
        kwargs["place"] = place.strip()
    if radius_m is not None:
        kwargs["radius_m"] = radius_m
    site = sites.add_site(_acting(request), name.strip(), **kwargs)
    audit_event(request, "site-add", site.name, site_id=site.id)
    return done(request, site.to_dict(), f"/sites/{site.id}", status_code=201)


@router.get("/sites/{site_id}", tags=["sites"], **guard("viewer"))
def site_page(request: Request, site_id: int) -> Response:
    """A site on a map: its area, each scene's footprint and detections, one date at a time."""
    ws = request.app.state.ws
    site = _site_by_id(ws, site_id)
    scenes = sites.list_scenes(ws, site.name)
    by_date: dict[str, dict[str, Any]] = {}
    scene_rows = []
    for sc in scenes:
        found = sites.stored_detections(ws, sc.id)
        date = sc.date or "undated"
        day = by_date.setdefault(
            date, {"footprints": [], "detections": {"type": "FeatureCollection", "features": []}}
        )
        if sc.footprint:
            day["footprints"].append(sc.footprint)
        day["detections"]["features"] += [
            f for f in sites.detections_geojson(sc, found)["features"] if f["geometry"]
        ]
        scene_rows.append({**sc.to_dict(), "detections": len(found)})
    for day in by_date.values():  # one footprint layer per date for the map
        day["footprint"] = {"type": "GeometryCollection", "geometries": day.pop("footprints")}
    geoms = [site.geometry] + [sc.footprint for sc in scenes if sc.footprint]
    data = {
        "site": site.to_dict(),
        "scenes": scene_rows,
        "map": {
            "area": site.geometry,
            "dates": sorted(by_date),
            "by_date": by_date,
            "bounds": _bounds(geoms),
        },
        "detectors": list(DETECTORS),
    }
    return render(request, "site.html", data)


def _site_detect_job(ctx: JobContext) -> dict[str, Any]:
    """Find ships in one scene, tile by tile (progress is the tile count)."""
    ws = acting_workspace(ctx.ws, ctx.user)
    scene_id = ctx.params["scene_id"]

    def on_tile(done: int, total: int) -> None:
        ctx.progress(done, total, f"scene {scene_id}: tile {done}/{total}")

    found = sites.detect_ships(ws, scene_id, detector=ctx.params.get("detector", "cfar"), on_tile=on_tile)
    scene = sites.get_scene(ws, scene_id)
    with ctx.ws.session() as s:
        audit.record(
            s,
            actor=ctx.user,
            action="detect-ships",
            target=f"scene {scene_id}",
            via="job",
            site=scene.site,
            detections=len(found),
        )
    site_id = next((x.id for x in sites.list_sites(ws) if x.name == scene.site), None)
    return {
        "detections": len(found),
        "scene_id": scene_id,
        "link": f"/sites/{site_id}" if site_id else "/sites",
    }


@router.post("/sites/{site_id}/scenes", tags=["sites"], status_code=202, **guard("analyst"))
def add_scene(
    request: Request,
    site_id: int,
    scene: Annotated[UploadFile, File(description="a GeoTIFF (or a PNG/JPEG chip in pixel mode)")],
    date: Annotated[str, Form(max_length=40, description="YYYY-MM-DD; else read from the file's tags")] = "",
    modality: Annotated[str, Form(max_length=16, description="SAR or optical; else guessed")] = "",
    detector: Annotated[str, Form(pattern="^(cfar|cnn|none)$")] = "cfar",
) -> Response:
    """Add a scene to a site; ship detection then runs as a background job (``detector=none`` skips it)."""
    ws = _acting(request)
    site = _site_by_id(ws, site_id)
    with saved_uploads(
        [scene], allowed=("raster", "image"), max_file_bytes=request.app.state.max_upload_bytes
    ) as paths:
        sc = sites.add_scene(ws, paths[0], site=site.name, date=date or None, modality=modality or None)
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
    request: Request, scene_id: int, detector: Annotated[str, Form(pattern="^(cfar|cnn)$")] = "cfar"
) -> Response:
    """Run ship detection on a scene again (as a background job)."""
    sites.get_scene(request.app.state.ws, scene_id)
    me = principal(request)
    job_id = request.app.state.jobs.submit(
        "site-detect", {"scene_id": scene_id, "detector": detector}, user=me.name
    )
    audit_event(request, "detect-ships", f"scene {scene_id}", job_id=job_id, detector=detector)
    return done(request, {"job_id": job_id, "job": f"/jobs/{job_id}"}, f"/jobs/{job_id}", status_code=202)


@router.get("/scenes/{scene_id}", tags=["sites"], **guard("viewer"))
def scene_page(request: Request, scene_id: int) -> Response:
    ws = request.app.state.ws
    sc = sites.get_scene(ws, scene_id)
    found = sites.stored_detections(ws, sc.id)
    site_id = next((x.id for x in sites.list_sites(ws) if x.name == sc.site), None)
    data = {"scene": sc.to_dict(), "site_id": site_id, "detections": sites.detections_geojson(sc, found)}
    return render(request, "scene.html", data)


@router.get("/scenes/{scene_id}/quicklook", tags=["sites"], **guard("viewer"))
def scene_quicklook(request: Request, scene_id: int) -> Response:
    """A PNG of the scene with its detections boxed."""
    ws = request.app.state.ws
    sc = sites.get_scene(ws, scene_id)
    found = sites.stored_detections(ws, sc.id)
    with tempfile.TemporaryDirectory(prefix="imint-quicklook-") as tmp:
        png = sites.write_quicklook(sc, found, Path(tmp) / "q.png", max_side=1600).read_bytes()
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=60"})


@router.get("/sites/{site_id}/changes", tags=["sites"], **guard("viewer"))
def site_changes(
    request: Request, site_id: int, match_distance_m: Annotated[float, Query(gt=0, le=10_000)] = 200.0
) -> Response:
    """Ships per date and arrivals / departures / stayed between consecutive dates (GeoJSON inside)."""
    ws = request.app.state.ws
    site = _site_by_id(ws, site_id)
    report = sites.site_changes(ws, site.name, match_distance_m=match_distance_m)
    data = {"site": site.to_dict(), "changes": report.to_dict(), "geojson": report.to_geojson()}
    return render(request, "site_changes.html", data)


@router.get("/sites/{site_id}/changes/chart", tags=["sites"], **guard("viewer"))
def site_changes_chart(request: Request, site_id: int) -> Response:
    """Ships per date with arrivals and departures, as a PNG."""
    ws = request.app.state.ws
    site = _site_by_id(ws, site_id)
    report = sites.site_changes(ws, site.name)
    with tempfile.TemporaryDirectory(prefix="imint-chart-") as tmp:
        png = report.chart_png(Path(tmp) / "chart.png").read_bytes()
    return Response(io.BytesIO(png).getvalue(), media_type="image/png")
