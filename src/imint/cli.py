"""The ``imint`` command: a thin shell over the library.

Each part adds its commands through its ``Part.commands`` hook; this file only assembles
them, with the server and account commands of the web shell (``imint.api.cli``).
"""

from __future__ import annotations

import typer

from imint import __version__
from imint.api import cli as api_cli
from imint.cli_common import set_global_flags
from imint.parts import Parts, default_parts


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imint {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="Keep the records in this database instead of <workspace>/imint.db, e.g. "
        "postgresql+psycopg://imint@127.0.0.1:5432/imint (env IMINT_DATABASE_URL); originals stay in the workspace.",
        show_default=False,
    ),
) -> None:
    """Offline imagery-intelligence workbench: faces, sites and cases."""
    set_global_flags(database_url=database_url)


def make_app(parts: Parts | None = None) -> typer.Typer:
    """The ``imint`` command with the commands of every part (and the web shell's)."""
    app = typer.Typer(
        name="imint",
        help="Offline imagery-intelligence workbench: faces, sites and cases.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    eval_app = typer.Typer(help="Measure accuracy and speed on a labelled data folder.", no_args_is_help=True)
    app.add_typer(eval_app, name="eval")
    for part in parts if parts is not None else default_parts():
        part.commands(app, eval_app)
    api_cli.register(app, eval_app)
    from imint import admin_cli

    admin_cli.register(app, eval_app)
    return app


app = make_app()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
