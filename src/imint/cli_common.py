"""What every CLI command shares: the workspace option, the console, error handling.

Each part registers its commands from its own ``cli.py`` (``register(app, eval_app)``),
so ``imint/cli.py`` stays a list of parts.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from imint.errors import ImintError

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="IMINT_WORKSPACE",
        help="Workspace folder (database, evidence store, indexes, exports).",
        show_default=True,
    ),
]
DEFAULT_WS = Path("imint-data")


# Options given before the command (``imint --database-url URL case list``), set by the root
# callback on every invocation, so one invocation's flags never leak into the next (tests run many).
global_flags: dict[str, Any] = {}


def set_global_flags(**flags: Any) -> None:
    global_flags.clear()
    global_flags.update({k: v for k, v in flags.items() if v is not None})


def cli_settings(path: Path, **settings: Any) -> Any:
    """The ``imint.settings.Settings`` of a command: its flags, the root's flags, then the environment.

    This is where the command line reads the environment (``imint.settings``); nothing below does.
    """
    from imint.settings import Settings

    return Settings.from_env(workspace=path, **{**global_flags, **settings})


def open_workspace(path: Path, **settings: Any) -> Any:
    """The workspace a command works on, with settings from its flags and the environment."""
    from imint.workspace import Workspace

    return Workspace(settings=cli_settings(path, **settings))


F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn ImintError into a one-line message and its exit code, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ImintError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def progress() -> Progress:
    """The one progress bar style of the CLI (quiet when stderr is not a terminal)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not sys.stderr.isatty(),
    )


def audit(ws: Any, action: str, target: str = "", **details: Any) -> None:
    """Record a command in the workspace's audit log (who: the workspace user, via: cli).

    The web app records its own requests; this is the same log for the command line,
    so a search or a confirmation is on record whichever door it came through.
    """
    from imint.store.audit import log

    log(ws, actor=ws.user, action=action, target=str(target)[:2000], via="cli", **details)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)
