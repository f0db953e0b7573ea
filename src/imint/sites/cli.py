"""Site commands: ``imint sites/scenes``, ``imint detect ships``, ``imint changes``, ``imint eval ships``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from imint.cli_common import (
    DEFAULT_WS,
    WorkspaceOpt,
    console,
    err_console,
    handle_errors,
    open_workspace,
    progress,
    write_json,
)
from imint.errors import BadInputError, ValidationError

sites_app = typer.Typer(help="Named areas of interest (ports, bases) to watch.", no_args_is_help=True)
scenes_app = typer.Typer(
    help="Satellite scenes (GeoTIFF, or PNG/JPEG chips) of a site.", no_args_is_help=True
)
detect_app = typer.Typer(help="Find objects in scenes.", no_args_is_help=True)


def _open(workspace: Path):  # noqa: ANN202
    return open_workspace(workspace)


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        err_console.print(f"[yellow]warning:[/] {w.message}")


@sites_app.command("add")
@handle_errors
def sites_add(
    name: Annotated[str, typer.Argument(help="Site name, e.g. 'Golden Horn'.")],
    place: Annotated[
        str | None, typer.Option(help="City from the offline gazetteer, e.g. Vladivostok.")
    ] = None,
    point: Annotated[str | None, typer.Option(help="Centre as LON,LAT in degrees.")] = None,
    polygon: Annotated[
        Path | None, typer.Option(help="GeoJSON file with the site polygon (EPSG:4326).")
    ] = None,
    radius: Annotated[float | None, typer.Option(help="Radius in metres around --place/--point.")] = None,
    notes: Annotated[str, typer.Option(help="Free text.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add a site: a place name, a point with radius, or a polygon."""
    from imint.sites import add_site
    from imint.sites.service import read_polygon_file

    pt = None
    if point is not None:
        try:
            lon, lat = (float(v) for v in point.split(","))
        except ValueError as exc:
            raise ValidationError("use --point LON,LAT (degrees)", subject=point) from exc
        pt = (lon, lat)
    poly = None
    if polygon is not None:
        poly = read_polygon_file(polygon)
    site = add_site(_open(workspace), name, polygon=poly, point=pt, radius_m=radius, place=place, notes=notes)
    where = f"{site.place} " if site.place else ""
    radius_txt = f", radius {site.radius_m:.0f} m" if site.radius_m else ""
    console.print(
        f"site [bold]{site.name}[/] (id {site.id}) at {where}"
        f"{site.center[0]:.5f}, {site.center[1]:.5f}{radius_txt}"
    )


@sites_app.command("list")
@handle_errors
def sites_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """List sites."""
    from imint.sites import list_scenes, list_sites

    ws = _open(workspace)
    sites = list_sites(ws)
    if as_json:
        console.print_json(json.dumps([s.to_dict() for s in sites]))
        return
    table = Table("id", "name", "centre (lon, lat)", "radius m", "place", "scenes")
    for s in sites:
        table.add_row(
            str(s.id),
            s.name,
            f"{s.center[0]:.5f}, {s.center[1]:.5f}",
            f"{s.radius_m:.0f}" if s.radius_m else "polygon",
            s.place,
            str(len(list_scenes(ws, s.name))),
        )
    console.print(table)


@scenes_app.command("add")
@handle_errors
def scenes_add(
    files: Annotated[list[Path], typer.Argument(help="GeoTIFF files (or PNG/JPEG chips, pixel mode).")],
    site: Annotated[str, typer.Option(help="Site the scene shows.")],
    date: Annotated[
        str | None, typer.Option(help="Acquisition date YYYY-MM-DD (default: from the file's tags).")
    ] = None,
    modality: Annotated[
        str | None, typer.Option(help="SAR or optical (default: from tags / band count).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Ingest scenes of a site (each file is validated before anything is stored)."""
    from imint.sites import add_scene

    ws = _open(workspace)
    for f in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scene = add_scene(ws, f, site=site, date=date, modality=modality)
        _show_warnings(caught)
        geo = f"{scene.crs}, {scene.pixel_size_m:.1f} m pixels" if scene.georeferenced else "pixel mode"
        console.print(
            f"scene [bold]{scene.id}[/] {f.name}: {scene.modality}, {scene.width} x {scene.height} px, "
            f"{scene.bands} band(s), {geo}, date {scene.date or 'unknown'}, "
            f"evidence {scene.evidence_sha256[:12]}"
        )


@scenes_app.command("list")
@handle_errors
def scenes_list(
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """List scenes."""
    from imint.sites import list_scenes

    scenes = list_scenes(_open(workspace), site)
    if as_json:
        console.print_json(json.dumps([s.to_dict() for s in scenes]))
        return
    table = Table("id", "site", "date", "modality", "size px", "CRS", "file", "evidence")
    for s in scenes:
        table.add_row(
            str(s.id),
            s.site,
            s.date or "?",
            s.modality,
            f"{s.width} x {s.height}",
            s.crs or "pixel mode",
            s.original_name,
            s.evidence_sha256[:12],
        )
    console.print(table)


@detect_app.command("ships")
@handle_errors
def detect_ships_cmd(
    scenes: Annotated[
        list[str], typer.Argument(help="Scene ids or evidence hashes (see `imint scenes list`).")
    ],
    detector: Annotated[str, typer.Option(help="cfar (two-parameter CFAR) or cnn (learned, SAR).")] = "cfar",
    land_mask: Annotated[
        str, typer.Option(help="CFAR land mask: auto, none, or a GeoJSON file of land.")
    ] = "auto",
    geojson: Annotated[Path | None, typer.Option(help="GeoJSON output (default: exports/sites/).")] = None,
    quicklook: Annotated[
        Path | None, typer.Option(help="PNG with boxes drawn (default: exports/sites/).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Find ships in scenes; store them; write GeoJSON (EPSG:4326) and a quicklook PNG per scene."""
    from imint.sites import detect_ships, detections_geojson, get_scene, write_quicklook

    if detector not in ("cfar", "cnn"):
        raise ValidationError("choose --detector cfar or cnn", subject=detector)
    ws = _open(workspace)
    mask = None if land_mask == "none" else land_mask
    for ref in scenes:
        scene = get_scene(ws, ref)
        with progress() as bar, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task = bar.add_task(f"{detector} on scene {scene.id}", total=None)
            found = detect_ships(
                ws,
                scene,
                detector=detector,
                land_mask=mask,
                on_tile=lambda i, n, t=task: bar.update(t, completed=i, total=n),
            )
        _show_warnings(caught)
        stem = f"scene{scene.id}_{scene.date or 'undated'}_{detector}"
        out_json = geojson if geojson and len(scenes) == 1 else ws.exports_dir / "sites" / f"{stem}.geojson"
        out_png = quicklook if quicklook and len(scenes) == 1 else ws.exports_dir / "sites" / f"{stem}.png"
        write_json(out_json, detections_geojson(scene, found))
        write_quicklook(scene, found, out_png)
        ws.log_custody(
            scene.evidence_sha256, "exported", what="ship detections", files=[str(out_json), str(out_png)]
        )
        console.print(f"scene {scene.id}: [bold]{len(found)}[/] ships ({detector}) -> {out_json}, {out_png}")


@handle_errors
def changes_cmd(
    site: Annotated[str, typer.Argument(help="Site name.")],
    match_distance: Annotated[float, typer.Option(help="Same ship if within this many metres.")] = 200.0,
    detector: Annotated[
        str | None, typer.Option(help="Use this detector's results (default: newest).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full report as JSON.")] = None,
    geojson: Annotated[
        Path | None, typer.Option(help="GeoJSON of arrivals/departures (default: exports/sites/).")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option(help="Chart PNG of counts per date (default: exports/sites/).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Ships per date at a site and arrivals / departures / stayed between dates."""
    from imint.sites.overview import changes_with_activity

    ws = _open(workspace)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report, data, geo_data = changes_with_activity(
            ws, site, match_distance_m=match_distance, detector=detector
        )
    _show_warnings(caught)
    safe = "".join(c if c.isalnum() else "_" for c in report.site)
    out_geo = geojson or ws.exports_dir / "sites" / f"{safe}_changes.geojson"
    out_png = chart or ws.exports_dir / "sites" / f"{safe}_counts.png"
    write_json(out_geo, geo_data)
    report.chart_png(out_png)
    if json_out:
        write_json(json_out, data)
    table = Table(
        "date",
        "ships",
        "on fixed infrastructure",
        "arrivals",
        "departures",
        "stayed",
        "new-activity areas",
        title=f"site {report.site}",
    )
    for i, d in enumerate(report.dates):
        pair = report.pairs[i - 1] if i else None
        table.add_row(
            d,
            str(report.counts[d]),
            str(len(report.infrastructure[d])) if d in report.infrastructure else "",
            *(
                [
                    str(len(pair.arrivals)),
                    str(len(pair.departures)),
                    str(len(pair.stayed)),
                    str(len(pair.new_activity)),
                ]
                if pair
                else ["", "", "", ""]
            ),
        )
    console.print(table)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    console.print(f"GeoJSON {out_geo}, chart {out_png}")


@handle_errors
def eval_ships_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Folder with images.csv and annotations.csv (like ../shared/data/ships).")
    ],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the metrics JSON.")],
    detector: Annotated[str, typer.Option(help="cfar or cnn.")] = "cfar",
    limit: Annotated[int | None, typer.Option(help="Only the first N images (a quick look).")] = None,
    part: Annotated[
        str | None, typer.Option(help="Only one part of the honest split: dev or heldout.")
    ] = None,
    product_path: Annotated[
        bool,
        typer.Option(
            "--product-path",
            help="Run each chip the way `imint detect ships` runs a stored chip (pixel mode).",
        ),
    ] = False,
) -> None:
    """Precision, recall, F1 and AP50 at IoU 0.5 (inshore/offshore, SAR/optical) and speed."""
    from imint.sites.evaluate import evaluate_ships

    if not folder.is_dir():
        raise BadInputError("not a folder", subject=folder)
    with progress() as bar:
        task = bar.add_task(f"eval ships ({detector})", total=None)
        result = evaluate_ships(
            folder,
            detector=detector,
            limit=limit,
            part=part,
            product_path=product_path,
            on_image=lambda i, n: bar.update(task, completed=i, total=n),
        )
    write_json(json_out, result)
    table = Table(
        "part",
        "images",
        "objects",
        "precision",
        "recall",
        "F1",
        "AP50",
        title=f"ships, {detector}, IoU 0.5 ({result['seconds']:.1f} s, "
        f"{result['megapixels_per_second']} Mpx/s)",
    )

    def row(label: str, m: dict) -> None:
        table.add_row(
            label,
            str(m["images"]),
            str(m["objects"]),
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            f"{m['ap50']:.3f}",
        )

    row("all", result)
    for k, m in result["by_modality"].items():
        row(k, m)
    for k, m in result["by_subset_sar"].items():
        row(f"SAR {k}", m)
    for k, m in result.get("by_split_sar", {}).items():
        row(f"SAR {k} split", m)
    console.print(table)
    console.print(f"wrote {json_out}")


area_app = typer.Typer(help="Areas of interest inside a site (a depot, a quay).", no_args_is_help=True)


@area_app.command("add")
@handle_errors
def area_add(
    site: Annotated[str, typer.Argument(help="Site name.")],
    name: Annotated[str, typer.Argument(help="Area name, e.g. 'vehicle park'.")],
    polygon: Annotated[Path, typer.Option(help="GeoJSON file with the area's polygon (EPSG:4326).")],
    notes: Annotated[str, typer.Option(help="Free text.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add an area of interest to a site; `imint activity SITE` then scores it per date."""
    from imint.sites.areas import add_area

    try:
        data = json.loads(polygon.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"not a readable GeoJSON file ({exc})", subject=polygon) from exc
    area = add_area(_open(workspace), site, name, data, notes=notes)
    console.print(f"area [bold]{area.name}[/] (id {area.id}) of site {area.site}")


@area_app.command("list")
@handle_errors
def area_list(
    site: Annotated[str, typer.Argument(help="Site name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """List a site's areas of interest."""
    from shapely.geometry import shape

    from imint.sites.areas import list_areas

    found = list_areas(_open(workspace), site)
    if as_json:
        console.print_json(json.dumps([a.to_dict() for a in found]))
        return
    table = Table("id", "name", "centre (lon, lat)", "notes")
    for a in found:
        c = shape(a.geometry).centroid
        table.add_row(str(a.id), a.name, f"{c.x:.5f}, {c.y:.5f}", a.notes)
    console.print(table)


@handle_errors
def activity_cmd(
    site: Annotated[str, typer.Argument(help="Site name.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the activity series as JSON.")
    ] = None,
    chart: Annotated[Path | None, typer.Option(help="Write the time-series chart as PNG.")] = None,
    claim_dates: Annotated[
        str | None, typer.Option(help="Dates a claim names, drawn dashed: 2024-10-08/2024-10-13.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Activity index of a site's areas of interest per date, and the dates of significant gatherings."""
    from imint.sites.areas import parse_claim_dates, site_activity

    dates = parse_claim_dates(claim_dates)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = site_activity(_open(workspace), site)
    _show_warnings(caught)
    if json_out:
        write_json(json_out, report.to_dict() | {"gatherings": report.gatherings(), "claim_dates": dates})
    if chart:
        report.chart_png(chart, claim_dates=dates, title=f"{site}: activity per area; red circle = gathering")
    table = Table(
        "area", "date", "changed pixels %", "z", "", title=f"activity at {site} ({report.modality})"
    )
    for name, a in report.areas.items():
        for p in a["series"]:
            flag = "baseline" if p["baseline"] else ("GATHERING" if p["gathering"] else "")
            table.add_row(name, p["date"], f"{100 * p['index']:.2f}", f"{p['z']:.1f}", flag)
    console.print(table)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    gatherings = report.gatherings()
    console.print(
        "gatherings: "
        + (", ".join(f"{g['area']} {g['date']} (z {g['z']:.1f})" for g in gatherings) or "none")
    )
    for out in (json_out, chart):
        if out:
            console.print(f"wrote {out}")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    sites_app.add_typer(area_app, name="area")
    app.command("activity")(activity_cmd)
    app.add_typer(sites_app, name="sites")
    app.add_typer(scenes_app, name="scenes")
    app.add_typer(detect_app, name="detect")
    app.command("changes")(changes_cmd)
    eval_app.command("ships")(eval_ships_cmd)
