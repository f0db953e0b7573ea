"""Cases: graded claims, the evidence that supports or contradicts them, and its custody.

```python
from imint.workspace import Workspace
from imint import cases

ws = Workspace("imint-data")
cases.create_case(ws, "dprk-troops", title="North Korean troops in Russia")
claim = cases.add_claim(ws, "dprk-troops", "1,500 special forces shipped to Vladivostok",
                        source="NIS (South Korea)", reliability="B", credibility=3,
                        figure="1500 troops", quantity="NK troops sent to Russia",
                        dates="2024-10-08/2024-10-13", places=["Vladivostok"])
ev = cases.add_evidence(ws, "dprk-troops", ["port.jpg"], source="https://...")[0]
cases.link_claim(ws, claim.id, "supports", evidence=ev.sha256, note="ships at the pier")
cases.verify_evidence(ws)          # re-hash every stored original, log 'verified'

from imint.cases.report import build_report
build_report(ws, "dprk-troops")   # exports/dprk-troops-report.html and .pdf
```
"""

from imint.cases.evidence import CustodyRecord, IntegrityCheck, custody_log, show_evidence, verify_evidence
from imint.cases.gazetteer import Place, resolve_place
from imint.cases.grading import CREDIBILITY, RELATIONS, RELIABILITY, STATUSES, admiralty_label
from imint.cases.service import (
    CaseInfo,
    Claim,
    LinkInfo,
    QuantityGroup,
    add_claim,
    add_evidence,
    attach_evidence,
    case_claims,
    case_evidence,
    create_case,
    export_case,
    get_case,
    get_claim,
    grade_claim,
    import_evidence,
    link_claim,
    list_cases,
    propose_status,
    quantity_groups,
    set_status,
)
from imint.cases.values import Figure, parse_date_range, parse_figure

__all__ = [
    "CREDIBILITY",
    "RELATIONS",
    "RELIABILITY",
    "STATUSES",
    "CaseInfo",
    "Claim",
    "CustodyRecord",
    "Figure",
    "IntegrityCheck",
    "LinkInfo",
    "Place",
    "QuantityGroup",
    "add_claim",
    "add_evidence",
    "export_case",
    "import_evidence",
    "admiralty_label",
    "attach_evidence",
    "case_claims",
    "case_evidence",
    "create_case",
    "custody_log",
    "get_case",
    "get_claim",
    "grade_claim",
    "link_claim",
    "list_cases",
    "parse_date_range",
    "parse_figure",
    "propose_status",
    "quantity_groups",
    "resolve_place",
    "set_status",
    "show_evidence",
    "verify_evidence",
]
