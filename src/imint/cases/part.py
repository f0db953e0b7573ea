"""The cases part: graded claims, the evidence that supports or contradicts them, and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imint.parts import Part


class CasesPart(Part):
    name = "cases"
    title = "Cases"
    table_modules = ("imint.cases.tables",)
    migrations = Path(__file__).parent / "migrations"

    def commands(self, app: Any, eval_app: Any) -> None:
        from imint.cases import cli

        cli.register(app, eval_app)

    def routers(self) -> list[Any]:
        from imint.cases import routes

        return [routes.router]

    def jobs(self) -> dict[str, Any]:
        from imint.cases import jobs

        return {"case-report": jobs.case_report_job}


PART = CasesPart()
