"""``imint check FILE_OR_SHA...``: run the checks and print what they found; ``imint capture``; ``imint stix``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from imint.cli_common import DEFAULT_WS, WorkspaceOpt, console, handle_errors, open_workspace, write_json
from imint.errors import NotFoundError
from imint.records import Evidence

STATUS_STYLE = {"ok": "green", "flagged": "bold yellow", "error": "bold red", "absent": "dim"}
CAPTURE_SUFFIXES = (".wacz", ".warc", ".warc.gz")


def _targets(ws, items: list[str]) -> list[Evidence]:  # noqa: ANN001 - Workspace
    """Files are ingested first (web captures with every image in them); anything else is a hash (prefix)."""
    from imint.checks.capture import ingest_capture

    out: list[Evidence] = []
    for item in items:
        p = Path(item)
        if p.is_file():
            if p.name.lower().endswith(CAPTURE_SUFFIXES):
                out.extend(ingest_capture(ws, p, source=str(p)).images)
            else:
                out.append(ws.ingest(p, source=str(p)))
        elif "/" in item or "." in item:  # a hash has neither: this was meant as a file
            raise NotFoundError("no such file", subject=p)
        else:
            out.append(ws.evidence(item))
    return out


def check(
    targets: Annotated[
        list[str], typer.Argument(help="Files (ingested first) or evidence hashes (a unique prefix).")
    ],
    checks: Annotated[
        list[str] | None, typer.Option("--check", "-c", help="Only these checks or groups (e.g. forensics).")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write every result to this JSON file.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Verify evidence pictures: metadata, C2PA, near-duplicates, first seen, JPEG history, ELA, noise, copy-move.

    No check is proof: each says what it found and what it cannot show (docs/checks.md).
    """
    from imint.checks.runner import resolve_checks, run_checks

    resolve_checks(checks)  # refuse unknown names before anything is ingested
    with open_workspace(workspace) as ws:
        reports = [run_checks(ws, ev, checks) for ev in _targets(ws, targets)]
    for report in reports:
        table = Table(
            title=f"{report.evidence.original_name}  {report.evidence.sha256[:12]}", show_lines=True
        )
        table.add_column("check")
        table.add_column("status")
        table.add_column("score", justify="right")
        table.add_column("what it found (and cannot show)")
        for r in report.results:
            style = STATUS_STYLE.get(r.status, "")
            score = "" if r.score is None else f"{r.score:g}"
            text = r.summary + (f"\n[dim]heat map: {workspace / r.artifact}[/]" if r.artifact else "")
            table.add_row(r.check, f"[{style}]{r.status}[/]", score, text)
        console.print(table)
    if json_out:
        write_json(json_out, [r.to_dict() for r in reports])
        console.print(f"results written to {json_out}")


def capture(
    archive: Annotated[Path, typer.Argument(help="A .wacz, .warc or .warc.gz web capture.")],
    source: Annotated[str, typer.Option(help="Where the capture came from.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Ingest a web capture whole, and every image response in it as its own evidence."""
    from imint.checks.capture import ingest_capture

    with open_workspace(workspace) as ws:
        result = ingest_capture(ws, archive, source=source)
    console.print(f"archive {result.archive.sha256[:12]}: {len(result.images)} image(s)")
    for ev, url in zip(result.images, result.urls, strict=True):
        console.print(f"  {ev.sha256[:12]}  {url}")
    for note in result.skipped:
        console.print(f"  [dim]not imported: {note}[/]")


def stix(
    case: Annotated[str, typer.Argument(help="Case name.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle file to write.")] = Path("case.stix.json"),
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Export a case as a STIX 2.1 bundle (claims, sources with their grades, evidence hashes, links)."""
    from imint.checks.stix import case_to_stix

    with open_workspace(workspace) as ws:
        bundle = case_to_stix(ws, case)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(bundle, indent=2))
    console.print(f"{len(bundle['objects'])} STIX objects written to {out}")


def _point(text: str) -> tuple[float, float]:
    from imint.errors import ValidationError

    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise ValidationError(f"a pixel point is X,Y (e.g. 120,340); got {text!r}", subject="point") from None
    return x, y


def sun(
    evidence: Annotated[
        str | None, typer.Argument(help="Evidence hash: its EXIF GPS point and UTC capture time.")
    ] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude (else from the evidence).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude (else from the evidence).")] = None,
    claimed: Annotated[
        str | None, typer.Option(help="Claimed time, ISO 8601 with zone (else EXIF UTC).")
    ] = None,
    top: Annotated[str | None, typer.Option(help="X,Y pixel of the top of a vertical object.")] = None,
    base: Annotated[str | None, typer.Option(help="X,Y pixel where the object meets the ground.")] = None,
    tip: Annotated[str | None, typer.Option(help="X,Y pixel of the end of its shadow.")] = None,
    tolerance: Annotated[float, typer.Option(help="Allowed error of the shadow ratio (0.15 = 15 %).")] = 0.15,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Where the sun was at a time and place, and which times of that day a measured shadow allows."""
    import datetime as dt

    from imint.checks.metadata import metadata as metadata_check
    from imint.checks.sun import shadow_time_window, sun_position
    from imint.errors import ValidationError

    when = dt.datetime.fromisoformat(claimed.replace("Z", "+00:00")) if claimed else None
    if evidence:
        from imint.checks.base import CheckContext

        with open_workspace(workspace) as ws, ws.session() as s:
            found = metadata_check(CheckContext(ws, ws.evidence(evidence), s)).details
        gps = found.get("gps") or {}
        lat = gps.get("lat") if lat is None else lat
        lon = gps.get("lon") if lon is None else lon
        if when is None and found.get("capture_utc"):
            when = dt.datetime.fromisoformat(found["capture_utc"].replace("Z", "+00:00"))
    if lat is None or lon is None or when is None:
        raise ValidationError(
            "need a place and a time: --lat/--lon/--claimed, or evidence with GPS and time", subject="sun"
        )
    if when.tzinfo is None:
        raise ValidationError("the time needs a zone (e.g. 2024-07-10T11:30:00Z)", subject="claimed")
    az, el = sun_position(when, lat, lon)
    console.print(
        f"sun at {when.isoformat()} over {lat:.5f}, {lon:.5f}: azimuth {az:.1f}°, elevation {el:.1f}°"
    )
    if top and base and tip:
        w = shadow_time_window(
            lat,
            lon,
            when.astimezone(dt.UTC).date(),
            top=_point(top),
            base=_point(base),
            tip=_point(tip),
            tolerance=tolerance,
            claimed=when,
        )
        lo, hi = w.elevation_range
        spans = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in w.intervals) or "none that day"
        console.print(f"shadow ratio {w.ratio:.2f} -> sun elevation {lo:.1f}-{hi:.1f}°, UTC {spans}")
        verdict = "consistent with" if w.claimed_consistent else "outside"
        console.print(
            f"the time is {verdict} the shadow (flat ground and a vertical object assumed; not proof)"
        )


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("check")(handle_errors(check))
    app.command("capture")(handle_errors(capture))
    app.command("stix")(handle_errors(stix))
    app.command("sun")(handle_errors(sun))
