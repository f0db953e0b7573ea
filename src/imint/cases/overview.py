"""What the case page shows, as plain data: the library behind ``GET /cases/{id}`` (a script can call it too)."""

from __future__ import annotations

from typing import Any

from imint.cases.casemap import case_map
from imint.cases.grading import CREDIBILITY, RELATIONS, RELIABILITY, STATUSES
from imint.cases.report import report_path
from imint.cases.service import case_claims, case_evidence, get_case
from imint.workspace import Workspace


def case_overview(ws: Workspace, case: str | int) -> dict[str, Any]:
    """A case with its claims (graded, with their links and proposed status), its evidence and the scales."""
    info = get_case(ws, case)
    evidence = [
        {
            "sha256": e.sha256,
            "name": e.original_name,
            "kind": e.kind,
            "added_at": e.added_at,
            "added_by": e.added_by,
            "source": e.source,
            "note": note,
        }
        for e, note in case_evidence(ws, info.id)
    ]
    return {
        "case": info.to_dict(),
        "claims": [c.to_dict() for c in case_claims(ws, info.id)],
        "evidence": evidence,
        "relations": list(RELATIONS),
        "statuses": list(STATUSES),
        "reliability": RELIABILITY,
        "credibility": {str(k): v for k, v in CREDIBILITY.items()},
        "report_built": report_path(ws, info).exists(),
        "map": case_map(ws, info.id),  # also GET /cases/{id}/map.json
    }
