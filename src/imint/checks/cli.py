"""``imint check FILE_OR_SHA...``: run the checks and print what they found; ``imint capture``; ``imint stix``."""

from __future__ import annotations

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
    object_line: Annotated[
        str | None,
        typer.Option("--object", help="X1,Y1,X2,Y2 pixels: the object from its base to its top."),
    ] = None,
    shadow: Annotated[
        str | None, typer.Option(help="X1,Y1,X2,Y2 pixels: its shadow from the base to the shadow's tip.")
    ] = None,
    top: Annotated[str | None, typer.Option(help="X,Y pixel of the top of a vertical object.")] = None,
    base: Annotated[str | None, typer.Option(help="X,Y pixel where the object meets the ground.")] = None,
    tip: Annotated[str | None, typer.Option(help="X,Y pixel of the end of its shadow.")] = None,
    tolerance: Annotated[float, typer.Option(help="Allowed error of the shadow ratio (0.15 = 15 %).")] = 0.15,
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="Store the marking on the evidence (a person's input, shown in the report)."
        ),
    ] = False,
    note: Annotated[str, typer.Option(help="With --save: a note kept with the marking.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Where the sun was at a time and place, and which times of that day a marked shadow allows.

    Mark the shadow as two lines (--object base..top, --shadow base..tip) or three points (--top, --base,
    --tip). A vertical object on flat ground is assumed; the answer is a consistency test, not proof.
    """
    from imint.checks.shadow import lines_from_points, mark_shadow, parse_line, sun_inputs, window_from_lines
    from imint.checks.sun import sun_position
    from imint.errors import ValidationError

    when = _time(claimed) if claimed else None
    lines = None
    if object_line or shadow:
        if not (object_line and shadow):
            raise ValidationError("give both --object and --shadow (each X1,Y1,X2,Y2)", subject="shadow")
        lines = parse_line(object_line, "object"), parse_line(shadow, "shadow")
    elif top or base or tip:
        if not (top and base and tip):
            raise ValidationError("give all three of --top, --base and --tip", subject="shadow")
        lines = lines_from_points(_point(top), _point(base), _point(tip))
    if save:
        if not (evidence and lines):
            raise ValidationError("--save needs an evidence hash and a marked shadow", subject="save")
        with open_workspace(workspace) as ws:
            marking = mark_shadow(
                ws,
                ws.evidence(evidence).sha256,
                object_line=lines[0],
                shadow_line=lines[1],
                lat=lat,
                lon=lon,
                claimed=when,
                tolerance=tolerance,
                note=note,
            )
        console.print(
            f"shadow marking {marking.id} stored by {marking.created_by or 'you'}: {marking.summary}"
        )
        return
    if evidence:
        with open_workspace(workspace) as ws:
            found = sun_inputs(ws, ws.evidence(evidence).sha256)
        lat = found["lat"] if lat is None else lat
        lon = found["lon"] if lon is None else lon
        if when is None and found["claimed_utc"]:
            when = _time(found["claimed_utc"])
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
    if lines:
        w = window_from_lines(lat, lon, when, *lines, tolerance=tolerance)
        lo, hi = w.elevation_range
        spans = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in w.intervals) or "none that day"
        console.print(f"shadow ratio {w.ratio:.2f} -> sun elevation {lo:.1f}-{hi:.1f}°, UTC {spans}")
        verdict = "consistent with" if w.claimed_consistent else "outside"
        console.print(
            f"the time is {verdict} the shadow (flat ground and a vertical object assumed; not proof)"
        )


def _time(text: str):  # noqa: ANN202 - datetime
    import datetime as dt

    from imint.errors import ValidationError

    try:
        return dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"not an ISO 8601 time: {text!r}", subject="claimed") from None


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("check")(handle_errors(check))
    app.command("sun")(handle_errors(sun))
