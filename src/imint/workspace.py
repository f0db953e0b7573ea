"""A workspace: one directory a user can back up or hand over whole.

```
imint-data/
  imint.db          SQLite: every record (or a PostgreSQL database: Settings.database_url)
  objects/ab/cd/…   content-addressed originals (SHA-256), never modified
  index/            vector-index files, always rebuildable from imint.db
  exports/          reports, GeoJSON, annotated media
```

``Workspace`` owns the database and the object store, and is the one door files come in
by (``ingest``). It knows the parts only through ``imint.parts``: each part's service is
``ws.<part name>`` (``ws.faces``, ``ws.sites``...), made on first use. ``enroll``, ``search``
and ``verify`` are kept as shortcuts to the faces part for a newcomer's first five minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from imint.errors import BadInputError, NotFoundError
from imint.media.images import decode_image
from imint.media.ingest import ingest_file, log_custody, object_path, row_to_evidence
from imint.parts import Parts, default_parts
from imint.records import Evidence
from imint.settings import DEFAULT_WORKSPACE, Settings
from imint.store.db import Database
from imint.store.models import EvidenceRow

__all__ = ["DEFAULT_WORKSPACE", "Workspace"]


class Workspace:
    """Open (creating if needed) the workspace at ``path`` (or ``settings.workspace``)."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        user: str | None = None,
        settings: Settings | None = None,
        parts: Parts | None = None,
    ) -> None:
        settings = settings or Settings()
        if path is not None:
            settings = Settings(**{**settings.__dict__, "workspace": Path(path)})
        if user:
            settings = settings.with_user(user)
        self.settings = settings
        self.path = settings.workspace.expanduser().resolve()
        if self.path.exists() and not self.path.is_dir():
            raise BadInputError("workspace path exists and is not a folder", subject=self.path)
        self.user = settings.user
        self.parts = parts if parts is not None else default_parts()
        for sub in ("objects", "index", "exports"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        # Records in the database server of ``settings.database_url`` when set, else in imint.db;
        # originals, indexes and exports stay in the folder either way.
        self.db = Database(
            settings.database_url or self.path / "imint.db",
            table_modules=self.parts.table_modules(),
            migration_dirs=self.parts.migration_dirs(),
        )
        self._services: dict[str, Any] = {}
        self._acting: dict[str, Workspace] = {}
        self._acting_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    def as_user(self, user: str) -> Workspace:
        """The same workspace (database, store, parts) acting as ``user``: custody and decisions carry that name.

        A separate object per user (made once, then reused), so that requests of different users
        running at once on a server never change a shared one.
        """
        if user == self.user:
            return self
        with self._acting_lock:
            other = self._acting.get(user)
            if other is None:
                other = object.__new__(Workspace)
                other.settings = self.settings.with_user(user)
                other.path, other.user, other.parts, other.db = self.path, user, self.parts, self.db
                other._services, other._acting, other._acting_lock = {}, self._acting, self._acting_lock
                self._acting[user] = other
            return other

    # -- the parts' services ------------------------------------------------------
    def service(self, name: str) -> Any:
        """The service of the part called ``name`` (``ws.faces`` is ``ws.service("faces")``)."""
        if name not in self._services:
            part = self.parts.get(name)
            service = part.service(self) if part is not None else None
            if service is None:
                raise AttributeError(
                    f"no part called {name!r} offers a service (parts: {self.parts.names()})"
                )
            self._services[name] = service
        return self._services[name]

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not attributes: a part's service, by the part's name.
        if name.startswith("_") or "parts" not in self.__dict__:
            raise AttributeError(name)
        return self.service(name)

    # -- layout ---------------------------------------------------------------
    @property
    def objects_dir(self) -> Path:
        return self.path / "objects"

    @property
    def index_dir(self) -> Path:
        return self.path / "index"

    @property
    def exports_dir(self) -> Path:
        return self.path / "exports"

    def session(self):  # noqa: ANN201 - a context manager yielding a SQLAlchemy Session
        return self.db.session()

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one ingest path ----------------------------------------------------
    def ingest(
        self,
        path: str | Path,
        *,
        source: str = "",
        kind: str | None = None,
        session: Session | None = None,
    ) -> Evidence:
        """Store a file once (by SHA-256), read its metadata, log custody; return its Evidence.

        With ``session`` the file joins the caller's transaction (an analysis that fails
        after ingest leaves nothing behind); without, it is committed at once. Every part's
        ``on_ingest`` sees newly stored files inside the same transaction.
        """
        if session is None:
            with self.session() as s:
                return self.ingest(path, source=source, kind=kind, session=s)
        evidence = ingest_file(session, self.objects_dir, path, added_by=self.user, source=source, kind=kind)
        if evidence.is_new:
            for part in self.parts:
                part.on_ingest(self, evidence, session)
        return evidence

    def evidence(self, sha256: str) -> Evidence:
        with self.session() as s:
            row = s.get(EvidenceRow, sha256)
            if row is None:
                # Accept a unique prefix, as people copy short hashes from reports.
                rows = s.query(EvidenceRow).filter(EvidenceRow.sha256.like(f"{sha256}%")).limit(2).all()
                if len(rows) != 1:
                    raise NotFoundError("no evidence with this hash in the workspace", subject=sha256)
                row = rows[0]
            return row_to_evidence(row, self.objects_dir)

    def list_evidence(self, kind: str | None = None) -> list[Evidence]:
        with self.session() as s:
            q = s.query(EvidenceRow).order_by(EvidenceRow.added_at)
            if kind:
                q = q.filter(EvidenceRow.kind == kind)
            return [row_to_evidence(r, self.objects_dir) for r in q.all()]

    def object_path(self, sha256: str) -> Path:
        return object_path(self.objects_dir, sha256)

    def read_image(self, evidence: Evidence) -> np.ndarray:
        """Decode an image evidence file (RGB uint8) from the object store."""
        path = Path(evidence.stored_path)
        return decode_image(path.read_bytes(), evidence.original_name)

    def log_custody(self, sha256: str, action: str, **details: Any) -> None:
        with self.session() as s:
            log_custody(s, sha256, action, self.user, **details)

    # -- shortcuts to the faces part ------------------------------------------------
    def enroll(self, name: str, photos: Sequence[str | Path], **kwargs: Any):  # noqa: ANN201
        """Enroll a person from reference photos (``ws.faces.enroll``)."""
        return self.service("faces").enroll(name, photos, **kwargs)

    def search(self, paths: str | Path | Iterable[str | Path], **kwargs: Any):  # noqa: ANN201
        """Find enrolled people in photos (``ws.faces.search``)."""
        return self.service("faces").search(paths, **kwargs)

    def verify(self, a: str | Path, b: str | Path, **kwargs: Any):  # noqa: ANN201
        """Compare the main faces of two photos (``ws.faces.verify``)."""
        return self.service("faces").verify(a, b, **kwargs)
