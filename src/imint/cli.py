"""The ``imint`` command: a thin shell over the library.

Each part adds its commands in its own ``cli.py``; this file only assembles them.
"""

from __future__ import annotations

import typer

from imint import __version__

app = typer.Typer(
    name="imint",
    help="Offline imagery-intelligence workbench: faces, sites and cases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure accuracy and speed on a labelled data folder.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Offline imagery-intelligence workbench: faces, sites and cases."""


def _register_parts() -> None:
    from imint.api import cli as api_cli
    from imint.cases import cli as cases_cli
    from imint.faces import cli as faces_cli
    from imint.sites import cli as sites_cli

    for part in (faces_cli, sites_cli, cases_cli, api_cli):
        part.register(app, eval_app)


_register_parts()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
