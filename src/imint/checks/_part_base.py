"""A stand-in for ``imint.parts.Part`` until that module exists in this tree (see /work/notes/PARTS.md).

Every method has a do-nothing default, as the real base will; ``part.py`` uses ``imint.parts.Part`` when it
can be imported and this class otherwise. The lead deletes this file when wiring parts in.
"""

from __future__ import annotations

from typing import Any


class Part:
    name: str = ""
    title: str = ""
    table_modules: tuple[str, ...] = ()
    migrations: str | None = None

    def commands(self, app: Any, eval_app: Any) -> None:
        return None

    def routers(self) -> list[Any]:
        return []

    def record_types(self) -> dict[str, Any]:
        return {}

    def cards(self) -> dict[str, Any]:
        return {}

    def evidence_cards(self, ws: Any, evidence: Any) -> list[Any]:
        return []

    def jobs(self) -> dict[str, Any]:
        return {}

    def service(self, ws: Any) -> Any:
        return None

    def on_ingest(self, ws: Any, evidence: Any, session: Any) -> None:
        return None

    def evidence_view(self, ws: Any, sha256: str) -> dict[str, Any] | None:
        return None
