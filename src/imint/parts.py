"""Parts: each package of imint (faces, video, sites, cases...) plugs itself in through one object.

A part exports ``PART``, an instance of a :class:`Part` subclass, from its ``part.py``. The shells (the
``imint`` command, the web app, the job runner, cases and their report) loop over the loaded parts and call
the hooks below; they never import a part's internals. This is datasette's rule: the core does not know
its plugins, it only knows what a plugin may add.

Built-in parts are listed once, in :data:`BUILTIN`; an installed distribution adds its own with an
``imint.parts`` entry point (``mypart = "mypkg.part:PART"``); a program or a test passes extra parts
to :meth:`Parts.load`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imint.errors import ImintError

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from sqlalchemy.orm import Session

    from imint.records import Evidence
    from imint.workspace import Workspace

# The built-in parts, in the order their commands, pages and report cards appear.
BUILTIN = (
    "imint.faces.part",
    "imint.faces.video.part",
    "imint.sites.part",
    "imint.cases.part",
    "imint.checks.part",
)
ENTRY_POINT_GROUP = "imint.parts"


class Part:
    """What one part brings. Every hook has a do-nothing default: override only what the part adds."""

    name: str = ""
    title: str = ""
    # Modules that define the part's SQLAlchemy tables (imported before the schema is migrated).
    table_modules: tuple[str, ...] = ()
    # Folder of the part's Alembic revisions (its own branch, labelled with the part's name).
    migrations: Path | None = None

    def commands(self, app: typer.Typer, eval_app: typer.Typer) -> None:
        """Add commands to the ``imint`` CLI (``eval_app`` is ``imint eval``)."""

    def routers(self) -> list[APIRouter]:
        """FastAPI routers of the part's pages and API (thin: each route calls a library function)."""
        return []

    def record_types(self) -> dict[str, Callable[[Session, int], str | None]]:
        """Records a claim can link to as ``TYPE:ID``: type -> resolver returning the evidence hash."""
        return {}

    def cards(self) -> dict[str, Callable[..., Any]]:
        """Report card renderers: record type -> ``render(ws, link, evidence) -> Card``."""
        return {}

    def evidence_cards(self, ws: Workspace, evidence: Evidence) -> list[Any]:
        """Extra report cards shown for every piece of evidence of a case."""
        return []

    def jobs(self) -> dict[str, Callable[..., dict[str, Any]]]:
        """Background job handlers: job kind -> ``handler(ctx: JobContext) -> result dict``."""
        return {}

    def service(self, ws: Workspace) -> Any:
        """The object ``ws.<name>`` returns (made once per Workspace), or None."""
        return None

    def on_ingest(self, ws: Workspace, evidence: Evidence, session: Session) -> None:
        """Called for every newly stored file, inside the ingest transaction."""

    def evidence_view(self, ws: Workspace, sha256: str) -> dict[str, Any] | None:
        """This part's section of the evidence page (``/evidence/<sha>``), JSON-able, or None."""
        return None

    def overview(self, ws: Workspace) -> dict[str, int]:
        """Counts for the dashboard (e.g. ``{"persons": 3}``)."""
        return {}

    def importers(self) -> dict[str, Callable[..., list[Evidence]]]:
        """Containers that become several evidence files, by file suffix (``.wacz``):
        ``importer(ws, path, source=...) -> [the container, then what it held]``."""
        return {}

    def exporters(self) -> dict[str, Callable[..., Any]]:
        """Case export formats (``stix``): ``exporter(ws, case) -> a JSON-able document``."""
        return {}

    def case_map(self, ws: Workspace, claims: list[Any], evidence: list[Evidence]) -> list[dict[str, Any]]:
        """GeoJSON features this part puts on a case's map (where a photo was taken, a contradiction's
        line), given the case's claims (``imint.cases.Claim``) and evidence. Each feature's properties
        carry ``kind`` and, for evidence, ``sha256``."""
        return []

    def __repr__(self) -> str:
        return f"<Part {self.name}>"


class PartError(ImintError):
    exit_code = 2


def _load_object(spec: str) -> Part:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    part = getattr(module, attr or "PART", None)
    if not isinstance(part, Part) or not part.name:
        raise PartError("does not export a named imint.parts.Part as PART", subject=spec)
    return part


class Parts:
    """The loaded parts, in order, with their contributions merged."""

    def __init__(self, parts: Iterable[Part]) -> None:
        self._parts: list[Part] = []
        for part in parts:
            if any(p.name == part.name for p in self._parts):
                raise PartError("two parts have the same name", subject=part.name)
            self._parts.append(part)

    @classmethod
    def load(cls, extra: Iterable[Part] = (), *, entry_points: bool = True) -> Parts:
        """The built-in parts, those of installed distributions, then ``extra``."""
        found = [_load_object(spec) for spec in BUILTIN]
        if entry_points:
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                found.append(_load_object(ep.value))
        return cls([*found, *extra])

    def __iter__(self) -> Iterator[Part]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def names(self) -> list[str]:
        return [p.name for p in self._parts]

    def get(self, name: str) -> Part | None:
        return next((p for p in self._parts if p.name == name), None)

    def table_modules(self) -> list[str]:
        return [m for p in self._parts for m in p.table_modules]

    def migration_dirs(self) -> list[Path]:
        return [p.migrations for p in self._parts if p.migrations is not None]

    def _merged(self, hook: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in self._parts:
            for key, value in getattr(part, hook)().items():
                if key in merged:
                    raise PartError(f"{hook}: {key!r} is claimed by two parts", subject=part.name)
                merged[key] = value
        return merged

    def record_types(self) -> Mapping[str, Callable[[Session, int], str | None]]:
        return self._merged("record_types")

    def cards(self) -> Mapping[str, Callable[..., Any]]:
        return self._merged("cards")

    def jobs(self) -> Mapping[str, Callable[..., dict[str, Any]]]:
        return self._merged("jobs")

    def routers(self) -> list[APIRouter]:
        return [r for p in self._parts for r in p.routers()]

    def overview(self, ws: Workspace) -> dict[str, int]:
        return {k: v for p in self._parts for k, v in p.overview(ws).items()}

    def importers(self) -> Mapping[str, Callable[..., list[Evidence]]]:
        return self._merged("importers")

    def importer_for(self, path: Path) -> Callable[..., list[Evidence]] | None:
        """The importer of the longest suffix ``path`` ends with (``.warc.gz`` before ``.gz``), if any."""
        name = Path(path).name.lower()
        matching = [s for s in self.importers() if name.endswith(s)]
        return self.importers()[max(matching, key=len)] if matching else None

    def exporters(self) -> Mapping[str, Callable[..., Any]]:
        return self._merged("exporters")


_default: Parts | None = None


def default_parts() -> Parts:
    """The parts every Workspace gets unless it is given others (loaded once per process)."""
    global _default
    if _default is None:
        _default = Parts.load()
    return _default
