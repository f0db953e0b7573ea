"""Workspace care commands: ``imint doctor``, ``imint backup DEST``, ``imint restore SRC``.

Thin over ``imint.store.doctor`` and ``imint.store.backup``. ``doctor`` never opens a
``Workspace`` (that would migrate, i.e. write to, a database that may be damaged).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from imint.cli_common import (
    DEFAULT_WS,
    WorkspaceOpt,
    audit,
    cli_settings,
    console,
    handle_errors,
    open_workspace,
)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:  # noqa: ARG001 - no eval commands here
    app.command("doctor")(doctor)
    app.command("backup")(backup)
    app.command("restore")(restore)


@handle_errors
def doctor(
    workspace: WorkspaceOpt = DEFAULT_WS,
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete temp files and stale index files (never data).")
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="Check that originals exist, do not re-hash.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a workspace: database, originals, temp files, vector index; exit 1 if anything is damaged."""
    from imint.store.doctor import check_workspace
    from imint.store.doctor import repair as do_repair

    report = check_workspace(
        workspace, database_url=cli_settings(workspace).database_url, hash_objects=not quick
    )
    removed = do_repair(report) if repair else []
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "removed": removed}, indent=2))
    else:
        checked = ", ".join(f"{k}: {v}" for k, v in report.checked.items())
        console.print(f"checked {report.workspace}" + (f" ({checked})" if checked else ""))
        for f in report.findings:
            colour = "bold red" if f.severity == "error" else "yellow"
            console.print(f"[{colour}]{f.severity.upper()}[/] {f.check}: {f.subject}: {f.problem}")
            console.print(f"    recovery: {f.recovery}")
        for path in removed:
            console.print(f"removed {path}")
        console.print("workspace ok" if report.ok else "[bold red]workspace damaged[/]")
    if not report.ok:
        raise typer.Exit(1)


@handle_errors
def backup(
    dest: Annotated[Path, typer.Argument(help="New (or empty) folder for the copy.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    exports: Annotated[bool, typer.Option("--exports/--no-exports", help="Copy exports/ too.")] = True,
) -> None:
    """Copy the workspace (a consistent database snapshot plus its originals) to DEST."""
    from imint.store.backup import backup_workspace

    result = backup_workspace(
        workspace, dest, exports=exports, database_url=cli_settings(workspace).database_url
    )
    ws = open_workspace(workspace)
    try:
        audit(ws, "backup", str(dest), evidence=result.evidence)
    finally:
        ws.close()
    console.print(
        f"backup {result.path}: {result.evidence} originals ({result.objects_bytes / 1e6:.1f} MB), "
        f"{result.exports} exports"
    )


@handle_errors
def restore(
    source: Annotated[Path, typer.Argument(help="A folder made by imint backup.")],
    workspace: WorkspaceOpt = DEFAULT_WS,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty workspace (moved aside, not deleted).")
    ] = False,
) -> None:
    """Make WORKSPACE a copy of the backup SOURCE (refuses a non-empty workspace without --force)."""
    from imint.store.backup import restore_workspace

    result = restore_workspace(
        source, workspace, force=force, database_url=cli_settings(workspace).database_url
    )
    ws = open_workspace(workspace)  # brings the copy's schema to this version's migrations
    try:
        audit(ws, "restore", str(source), evidence=result.evidence)
    finally:
        ws.close()
    console.print(f"restored {result.evidence} originals from {source} into {result.path}")
