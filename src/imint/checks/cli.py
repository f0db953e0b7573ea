"""``imint check FILE_OR_SHA...``: run the checks and print what they found; ``imint capture``; ``imint stix``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from imint.cli_common import DEFAULT_WS, WorkspaceOpt, console, handle_errors, write_json
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
    from imint.workspace import Workspace

    resolve_checks(checks)  # refuse unknown names before anything is ingested
    with Workspace(workspace) as ws:
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
    from imint.workspace import Workspace

    with Workspace(workspace) as ws:
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
    from imint.workspace import Workspace

    with Workspace(workspace) as ws:
        bundle = case_to_stix(ws, case)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(bundle, indent=2))
    console.print(f"{len(bundle['objects'])} STIX objects written to {out}")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("check")(handle_errors(check))
    app.command("capture")(handle_errors(capture))
    app.command("stix")(handle_errors(stix))
