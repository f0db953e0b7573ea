"""Commands of the cases part: ``imint case / claim / evidence / report / demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from imint.cli_common import (
    DEFAULT_WS,
    WorkspaceOpt,
    audit,
    cli_settings,
    console,
    handle_errors,
    open_workspace,
    progress,
    write_json,
)
from imint.errors import ValidationError

case_app = typer.Typer(help="Cases: a question, its claims and its evidence.", no_args_is_help=True)
claim_app = typer.Typer(
    help="Claims: graded statements of sources, linked to evidence.", no_args_is_help=True
)
evidence_app = typer.Typer(
    help="Evidence: add files, show their custody, verify their integrity.", no_args_is_help=True
)


def _ws(path: Path):  # noqa: ANN202 - a Workspace
    return open_workspace(path)


def _print_json(data: object) -> None:
    import json

    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


# -- case --------------------------------------------------------------------------


@case_app.command("new")
@handle_errors
def case_new(
    name: Annotated[str, typer.Argument(help="Short handle without spaces, e.g. dprk-troops-2024.")],
    title: Annotated[str, typer.Option(help="Title shown on the report.")] = "",
    summary: Annotated[str, typer.Option(help="What the case asks, in a few sentences.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Open a new case."""
    from imint.cases import create_case

    info = create_case(_ws(workspace), name, title=title, summary=summary)
    console.print(f"case [bold]{info.name}[/] created (id {info.id})")


@case_app.command("list")
@handle_errors
def case_list(
    workspace: WorkspaceOpt = DEFAULT_WS, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """List the cases of the workspace."""
    from imint.cases import list_cases

    infos = list_cases(_ws(workspace))
    if as_json:
        _print_json([i.to_dict() for i in infos])
        return
    table = Table("id", "name", "title", "claims", "evidence", "opened")
    for i in infos:
        table.add_row(str(i.id), i.name, i.title, str(i.n_claims), str(i.n_evidence), i.created_at)
    console.print(table)


@case_app.command("export")
@handle_errors
def case_export(
    case: Annotated[str, typer.Argument(help="Case name or id.")],
    stix: Annotated[Path | None, typer.Option("--stix", help="Write a STIX 2.1 bundle here.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Export a case for exchange: claims with their Admiralty grades, evidence hashes, links."""
    from imint.cases import export_case

    if stix is None:
        raise typer.BadParameter("name an output, e.g. --stix case.json", param_hint="--stix")
    ws = _ws(workspace)
    bundle = export_case(ws, case, "stix")
    write_json(stix, bundle)
    audit(ws, "export", case, format="stix", out=str(stix))
    console.print(f"{len(bundle.get('objects', []))} STIX objects written to {stix}")


@case_app.command("show")
@handle_errors
def case_show(
    case: Annotated[str, typer.Argument(help="Case name or id.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a case: its claims with grading, figures grouped by quantity, evidence links."""
    from imint.cases import case_claims, case_evidence, get_case, propose_status, quantity_groups

    ws = _ws(workspace)
    info = get_case(ws, case)
    claims = case_claims(ws, info.id)
    if as_json:
        _print_json(
            {
                "case": info.to_dict(),
                "claims": [c.to_dict() for c in claims],
                "evidence": [
                    {"sha256": e.sha256, "name": e.original_name, "note": n}
                    for e, n in case_evidence(ws, info.id)
                ],
            }
        )
        return
    console.print(
        f"[bold]{info.title}[/] ({info.name}) — {info.n_claims} claims, {info.n_evidence} evidence files"
    )
    if info.summary:
        console.print(info.summary)
    table = Table("#", "claim", "source", "grade", "figure", "when", "where", "status", "proposed", "links")
    for c in claims:
        proposed, _ = propose_status(c)
        table.add_row(
            str(c.id),
            c.text,
            c.source,
            c.grading,
            c.figure,
            c.dates,
            ", ".join(p.resolved_name or p.name for p in c.places),
            c.status,
            proposed,
            ", ".join(f"{link.relation} {link.target}" for link in c.links),
        )
    console.print(table)
    for group in quantity_groups(claims):
        console.print(
            f"\n[bold]{group.quantity}[/]: "
            + "; ".join(f"#{c.id} {c.source}: {c.figure}" for c in group.claims)
        )


# -- claim -------------------------------------------------------------------------


@claim_app.command("add")
@handle_errors
def claim_add(
    case: Annotated[str, typer.Argument(help="Case name or id.")],
    text: Annotated[str, typer.Argument(help="The claim, in your words.")],
    source: Annotated[str, typer.Option(help="Organisation or person who said it.")] = "",
    source_type: Annotated[str, typer.Option(help="government, official, news agency, ...")] = "",
    publication: Annotated[str, typer.Option(help="Statement, article or URL.")] = "",
    published: Annotated[str | None, typer.Option(help="Publication day, YYYY-MM-DD.")] = None,
    grade: Annotated[str | None, typer.Option(help="Admiralty code as one string, e.g. B3.")] = None,
    reliability: Annotated[str | None, typer.Option(help="Source reliability A–F.")] = None,
    credibility: Annotated[str | None, typer.Option(help="Information credibility 1–6.")] = None,
    grading_note: Annotated[str, typer.Option(help="Why this grade.")] = "",
    figure: Annotated[
        str | None, typer.Option(help="'1500 troops', '10000-12000 troops', 'up to 12000 troops'.")
    ] = None,
    quantity: Annotated[
        str, typer.Option(help="What the figure counts; claims with the same quantity are compared.")
    ] = "",
    dates: Annotated[str | None, typer.Option(help="Day, month or range: 2024-10-08/2024-10-13.")] = None,
    place: Annotated[
        list[str] | None,
        typer.Option(help="Place (repeatable): 'Vladivostok', 'Donetsk, UA', 'Pier @ 41.78,129.8'."),
    ] = None,
    status: Annotated[
        str, typer.Option(help="claimed, unconfirmed, corroborated, contradicted, confirmed.")
    ] = "claimed",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add a claim to a case (everything is checked before anything is stored)."""
    from imint.cases import add_claim
    from imint.cases.grading import parse_admiralty

    if grade:
        if reliability or credibility:
            raise ValidationError("give --grade or --reliability/--credibility, not both", subject="grading")
        reliability, cred = parse_admiralty(grade)
        credibility = str(cred)
    claim = add_claim(
        _ws(workspace),
        case,
        text,
        source=source,
        source_type=source_type,
        publication=publication,
        published_on=published,
        reliability=reliability,
        credibility=credibility,
        grading_note=grading_note,
        figure=figure,
        quantity=quantity,
        dates=dates,
        places=place or [],
        status=status,
    )
    where = ", ".join(f"{p.resolved_name} ({p.lat:.3f}, {p.lon:.3f})" for p in claim.places)
    console.print(
        f"claim [bold]#{claim.id}[/] added, graded {claim.grading}" + (f"; places: {where}" if where else "")
    )


@claim_app.command("grade")
@handle_errors
def claim_grade(
    claim_id: Annotated[int, typer.Argument(help="Claim number.")],
    code: Annotated[str | None, typer.Argument(help="Admiralty code as one string, e.g. B3.")] = None,
    reliability: Annotated[str | None, typer.Option(help="Source reliability A–F.")] = None,
    credibility: Annotated[str | None, typer.Option(help="Information credibility 1–6.")] = None,
    note: Annotated[str | None, typer.Option(help="Why this grade.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Grade a claim with the Admiralty code (source A–F and information 1–6, separately)."""
    from imint.cases import grade_claim
    from imint.cases.grading import parse_admiralty

    if code:
        reliability, cred = parse_admiralty(code)
        credibility = str(cred)
    claim = grade_claim(_ws(workspace), claim_id, reliability=reliability, credibility=credibility, note=note)
    console.print(f"claim #{claim.id} graded {claim.grading}")


@claim_app.command("link")
@handle_errors
def claim_link(
    claim_id: Annotated[int, typer.Argument(help="Claim number.")],
    relation: Annotated[str, typer.Argument(help="supports, contradicts or context.")],
    evidence: Annotated[str | None, typer.Option(help="Evidence SHA-256 (or a unique prefix).")] = None,
    record: Annotated[
        str | None, typer.Option(help="A record made from evidence, TYPE:ID (match:12, face:3...).")
    ] = None,
    note: Annotated[str, typer.Option(help="The analyst's note: why it supports or contradicts.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Link a claim to evidence (logged in the evidence's custody)."""
    from imint.cases import link_claim

    link = link_claim(_ws(workspace), claim_id, relation, evidence=evidence, record=record, note=note)
    console.print(f"claim #{claim_id} {link.relation}: {link.target}")


@claim_app.command("status")
@handle_errors
def claim_status(
    claim_id: Annotated[int, typer.Argument(help="Claim number.")],
    status: Annotated[
        str, typer.Argument(help="claimed, unconfirmed, corroborated, contradicted, confirmed.")
    ],
    note: Annotated[str, typer.Option(help="Why.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Set a claim's status (a person's decision; `case show` lists what the links propose)."""
    from imint.cases import set_status

    claim = set_status(_ws(workspace), claim_id, status, note=note)
    console.print(f"claim #{claim.id} is now {claim.status}")


# -- evidence ----------------------------------------------------------------------


@evidence_app.command("add")
@handle_errors
def evidence_add(
    files: Annotated[list[Path], typer.Argument(help="Files to add (photos, videos, GeoTIFFs, documents).")],
    source: Annotated[str, typer.Option(help="Where they came from: URL or a note.")] = "",
    case: Annotated[str | None, typer.Option(help="Attach to this case.")] = None,
    note: Annotated[str, typer.Option(help="Note kept with the case's evidence.")] = "",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Store files once by SHA-256 (the same bytes twice are logged, not stored twice).

    A web capture (.wacz, .warc) is kept whole, and every image in it becomes evidence of its own
    whose custody records the capture URL, the capture time and the archive's hash.
    """
    from imint.cases import add_evidence, import_evidence

    ws = _ws(workspace)
    table = Table("sha256", "file", "kind", "new")
    with progress() as bar:
        task = bar.add_task("adding", total=len(files))
        for f in files:
            if case:
                added = add_evidence(ws, case, [f], source=source, note=note)
            else:
                added = import_evidence(ws, f, source=source)
            for ev in added:
                new = "yes" if ev.is_new else "already stored"
                table.add_row(ev.sha256[:16], ev.original_name, ev.kind, new)
            bar.advance(task)
    console.print(table)


@evidence_app.command("show")
@handle_errors
def evidence_show(
    sha256: Annotated[str, typer.Argument(help="SHA-256 or a unique prefix.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show an evidence file's metadata and custody log (the look itself is logged)."""
    from imint.cases import show_evidence

    ev, log = show_evidence(_ws(workspace), sha256)
    if as_json:
        from dataclasses import asdict

        _print_json({"evidence": asdict(ev), "custody": [e.to_dict() for e in log]})
        return
    console.print(
        f"[bold]{ev.original_name}[/] ({ev.kind}, {ev.size_bytes:,} bytes)\n"
        f"sha256 {ev.sha256}\nstored {ev.stored_path}"
    )
    console.print(f"added {ev.added_at} by {ev.added_by}" + (f" from {ev.source}" if ev.source else ""))
    for key, value in ev.metadata.items():
        console.print(f"  {key}: {value}")
    table = Table("#", "time (UTC)", "action", "actor", "details")
    for e in log:
        table.add_row(str(e.id), e.at, e.action, e.actor, ", ".join(f"{k}={v}" for k, v in e.details.items()))
    console.print(table)


@evidence_app.command("verify")
@handle_errors
def evidence_verify(
    hashes: Annotated[
        list[str] | None, typer.Argument(help="Hashes to check (default: every stored original).")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-hash stored originals to prove they are unchanged; exit 6 if any is modified or missing."""
    from imint.cases import verify_evidence

    ws = _ws(workspace)
    total = len(hashes) if hashes else len(ws.list_evidence())
    with progress() as bar:
        task = bar.add_task("verifying", total=total)
        results = verify_evidence(ws, hashes or None, on_progress=lambda _r: bar.advance(task))
    bad = [r for r in results if not r.ok]
    if as_json:
        _print_json([r.to_dict() for r in results])
    else:
        for r in bad:
            console.print(
                f"[bold red]{r.status.upper()}[/] {r.sha256} {r.original_name}"
                + (f" (now {r.actual_sha256})" if r.actual_sha256 else "")
            )
        console.print(
            f"{len(results) - len(bad)} of {len(results)} originals intact"
            + ("" if not bad else f", [bold red]{len(bad)} failed[/]")
        )
    if bad:
        raise typer.Exit(6)


# -- report and demo ---------------------------------------------------------------


def report(
    case: Annotated[str, typer.Argument(help="Case name or id.")],
    html: Annotated[bool, typer.Option("--html/--no-html", help="Write the HTML report.")] = True,
    pdf: Annotated[
        bool, typer.Option("--pdf/--no-pdf", help="Print it to PDF with headless Chromium.")
    ] = True,
    out: Annotated[
        Path | None, typer.Option(help="HTML path (PDF beside it); default exports/CASE-report.html.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Write a case's report: self-contained HTML (images inlined) and PDF."""
    from imint.cases.report import build_report

    if not html and not pdf:
        raise ValidationError("nothing to write: give --html, --pdf or both", subject="report")
    ws = _ws(workspace)
    paths = build_report(
        ws,
        case,
        html_path=out,
        pdf_path=out.with_suffix(".pdf") if out else None,
        html=html,
        pdf=pdf,
    )
    audit(ws, "export", f"report of case {case}", html=str(paths.html or ""), pdf=str(paths.pdf or ""))
    for p in (paths.html, paths.pdf):
        if p:
            console.print(f"wrote {p}")
    for err in paths.console_errors:
        console.print(f"[yellow]page reported:[/] {err}")


def demo(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="Where to build the sample case.")
    ] = Path("imint-demo"),
) -> None:
    """Build the sample case (public material, simulated SAR) and its report; safe to run again."""
    from imint.demo import run_demo

    run_demo(workspace, settings=cli_settings(workspace))


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.add_typer(case_app, name="case")
    app.add_typer(claim_app, name="claim")
    app.add_typer(evidence_app, name="evidence")
    app.command("report")(handle_errors(report))
    app.command("demo")(handle_errors(demo))
