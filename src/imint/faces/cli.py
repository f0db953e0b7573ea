"""Face commands (being built)."""

import typer


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    return None
