"""Checks: what can be verified about an evidence picture, each with what it cannot show.

```python
from imint.workspace import Workspace
from imint import checks

ws = Workspace("imint-data")
ev = ws.ingest("photo.jpg", source="https://...")
report = checks.run_checks(ws, ev)                 # every automatic check, stored in one transaction
report["ela"].summary, report["ela"].artifact      # a plain sentence; a heat map under exports/checks/
checks.contradictions(report["metadata"], claim)   # capture day / GPS point against a claim's dates and places
checks.sun_position(when_utc, lat, lon)            # azimuth, elevation (NOAA)
checks.ingest_capture(ws, "page.wacz", source="...")  # a web archive and every image in it
checks.case_to_stix(ws, "case-name")               # a STIX 2.1 bundle
```

No check is proof of anything; docs/checks.md says what each can and cannot tell.
Imports are lazy so that opening a workspace (which runs migrations) does not load OpenCV.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckContext": "imint.checks.base",
    "CheckError": "imint.checks.base",
    "CheckResult": "imint.checks.base",
    "STATUSES": "imint.checks.base",
    "CHECKS": "imint.checks.registry",
    "GROUPS": "imint.checks.registry",
    "CheckReport": "imint.checks.runner",
    "run_checks": "imint.checks.runner",
    "run_checks_in_session": "imint.checks.runner",
    "stored_results": "imint.checks.runner",
    "Contradiction": "imint.checks.metadata",
    "contradictions": "imint.checks.metadata",
    "find_near_duplicates": "imint.checks.duplicates",
    "sun_position": "imint.checks.sun",
    "shadow_time_window": "imint.checks.sun",
    "ShadowWindow": "imint.checks.sun",
    "ingest_capture": "imint.checks.capture",
    "CaptureImport": "imint.checks.capture",
    "case_to_stix": "imint.checks.stix",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'imint.checks' has no attribute {name!r}")
