"""A workspace: one directory a user can back up or hand over whole.

```
imint-data/
  imint.db          SQLite: every record
  objects/ab/cd/…   content-addressed originals (SHA-256), never modified
  index/            vector-index files, always rebuildable from imint.db
  exports/          reports, GeoJSON, annotated media
```

``Workspace`` owns the database and the object store, and is the one door files
come in by (``ingest``). Face methods (``enroll``, ``search``, ``verify``...) are
thin delegations to ``imint.faces``; sites and cases take a Workspace as their
first argument.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imint.errors import BadInputError, NotFoundError
from imint.media.images import decode_image
from imint.media.ingest import ingest_file, log_custody, object_path, row_to_evidence
from imint.records import Evidence
from imint.store.db import Database
from imint.store.models import EvidenceRow

if TYPE_CHECKING:
    from imint.faces.service import FaceService

DEFAULT_WORKSPACE = "imint-data"


def default_user() -> str:
    """Who is acting, for the custody log: $IMINT_USER, else the login name."""
    try:
        return os.environ.get("IMINT_USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


class Workspace:
    """Open (creating if needed) the workspace at ``path``."""

    def __init__(self, path: str | Path = DEFAULT_WORKSPACE, *, user: str | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        if self.path.exists() and not self.path.is_dir():
            raise BadInputError("workspace path exists and is not a folder", subject=self.path)
        self.user = user or default_user()
        for sub in ("objects", "index", "exports"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self.db = Database(self.path / "imint.db")
        self._faces: FaceService | None = None

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

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
    def ingest(self, path: str | Path, *, source: str = "", kind: str | None = None) -> Evidence:
        """Store a file once (by SHA-256), read its metadata, log custody; return its Evidence."""
        with self.session() as s:
            return ingest_file(s, self.objects_dir, path, added_by=self.user, source=source, kind=kind)

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

    # -- faces (delegations; see imint.faces.service) ------------------------------
    @property
    def faces(self) -> FaceService:
        if self._faces is None:
            from imint.faces.service import FaceService

            self._faces = FaceService(self)
        return self._faces

    def enroll(self, name: str, photos: Sequence[str | Path], **kwargs: Any):  # noqa: ANN201
        """Enroll a person from reference photos (see FaceService.enroll)."""
        return self.faces.enroll(name, photos, **kwargs)

    def search(self, paths: str | Path | Iterable[str | Path], **kwargs: Any):  # noqa: ANN201
        """Find enrolled people in photos (see FaceService.search)."""
        return self.faces.search(paths, **kwargs)

    def verify(self, a: str | Path, b: str | Path, **kwargs: Any):  # noqa: ANN201
        """Compare the main faces of two photos (see FaceService.verify)."""
        return self.faces.verify(a, b, **kwargs)
