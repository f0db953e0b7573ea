"""The cases part's background jobs (``CasesPart.jobs()``)."""

from __future__ import annotations

from typing import Any

from imint.api import audit
from imint.api.jobs import JobContext
from imint.cases.report import build_report


def case_report_job(ctx: JobContext) -> dict[str, Any]:
    """Build a case's HTML report and its PDF (printed by headless Chromium: slow, hence a job)."""
    ws = ctx.ws.as_user(ctx.user)
    ctx.progress(0, 1, "building the report", force=True)
    paths = build_report(ws, ctx.params["case_id"], pdf=bool(ctx.params.get("pdf", True)))
    with ctx.ws.session() as s:
        audit.record(
            s,
            actor=ctx.user,
            action="export",
            target=f"case {ctx.params['case_id']} report",
            via="job",
            pdf=bool(paths.pdf),
        )
    return {
        "html": paths.html.name if paths.html else None,
        "pdf": paths.pdf.name if paths.pdf else None,
        "console_errors": paths.console_errors,
        "link": f"/cases/{ctx.params['case_id']}/report",
    }
