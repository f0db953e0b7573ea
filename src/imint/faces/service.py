"""``ws.faces``: the face work of one workspace, as one object over the modules that do it.

gallery (persons, watchlists, enroll), index (the reference index), search (1:N, photos and
videos), verify (1:1) and review (candidates, decisions). The methods keep the names callers
have always used; each one is a line over its module.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

from imint.errors import BadInputError, ImintError
from imint.faces import analysis, collection, gallery, review, search, verify
from imint.faces import pool as analysis_pool
from imint.faces.calibration import DEFAULT_FMR, DEFAULT_FPIR, Calibration, load_calibration
from imint.faces.engine import DEFAULT_MODEL, FaceEngine, get_engine
from imint.faces.index import ReferenceIndex
from imint.faces.pool import AnalysisPool, Prefetch, Ready, analyse_file
from imint.faces.results import (
    DEFAULT_TOP_K,
    EnrollResult,
    FaceComparison,
    FaceResult,
    MediaResult,
    ProgressFn,
    SearchResults,
    identified_as,
)
from imint.faces.tables import FaceScan
from imint.media.sniff import sort_media

if TYPE_CHECKING:
    from imint.faces.tables import FaceRow
    from imint.records import Candidate, Evidence, Faces
    from imint.store.index import FaceIndex
    from imint.workspace import Workspace

# Re-exported: the video modules import these from here.
__all__ = [
    "DEFAULT_TOP_K",
    "EnrollResult",
    "FaceComparison",
    "FaceResult",
    "FaceService",
    "MediaResult",
    "ProgressFn",
    "SearchResults",
    "identified_as",
]


class FaceService:
    """Face operations bound to one workspace and one model."""

    def __init__(self, ws: Workspace, model_id: str | None = None) -> None:
        self.ws = ws
        # The workspace's settings may name another model (``IMINT_FACE_MODEL``), else the default.
        self.model_id = model_id or ws.settings.face_model or DEFAULT_MODEL
        self._engine: FaceEngine | None = None
        self._local = threading.local()  # this thread's photos sent ahead to the pool (``_prefetching``)
        self.index = ReferenceIndex(
            ws.session,
            ws.index_dir,
            self.model_id,
            lambda: self.engine.embedder.dim,
            uri=ws.settings.index_uri,
        )

    @property
    def engine(self) -> FaceEngine:
        """The process's engine for this model (shared by every user; it serialises its own image work)."""
        if self._engine is None:
            self._engine = get_engine(self.model_id)
        return self._engine

    @property
    def calibration(self) -> Calibration:
        """This model's score calibration, without loading its networks (a server's workers hold those)."""
        return load_calibration(self.model_id)

    # -- the analysis pool (a server's worker processes) -----------------------------------------
    @property
    def pool(self) -> AnalysisPool | None:
        """The workers this workspace's server analyses with, or None (analysis runs in this process)."""
        return analysis_pool.attached(self.ws.db, self.model_id)

    def start_serving(self) -> None:
        """Called by the web app at startup: fresh analyses go to ``Settings.workers`` worker processes
        (0: one per core), started on the first photo (or by ``warm_up``), shared by every user of the server."""
        if self.pool is None:
            analysis_pool.attach(self.ws.db, AnalysisPool(self.model_id, self.ws.settings.workers))

    def warm_up(self) -> float:
        """Start the server's workers now and wait until each has loaded its engine (``imint serve``
        does, before it takes requests); the seconds it took (0 without a pool)."""
        pool = self.pool
        return pool.start(wait=True) if pool is not None else 0.0

    def stop_serving(self) -> None:
        pool = analysis_pool.detach(self.ws.db, self.model_id)
        if pool is not None:
            pool.close()

    @contextlib.contextmanager
    def _prefetching(self, photos: Sequence[Path], *, here: bool = False) -> Iterator[Prefetch | None]:
        """Analyse ``photos`` before the loop that stores them asks for their faces, so that the
        analysis runs outside that loop's write transactions (kept short: a CLI and a server write
        one workspace at once). With a pool they go to its workers, a window ahead, in parallel;
        without one, ``here=True`` analyses them all now in this process (a few reference photos)."""
        pool = self.pool
        if getattr(self._local, "prefetch", None) is not None or (pool is None and not here):
            yield None
            return
        if pool is not None:
            prefetch = Prefetch(pool.submit, photos, window=2 * pool.workers, skip=self._scanned)
        else:
            engine = self.engine
            prefetch = Prefetch(
                lambda p: Ready(analyse_file(engine, p, p.name)),
                photos,
                window=len(photos),
                skip=self._scanned,
            )
        self._local.prefetch = prefetch
        try:
            yield prefetch
        finally:
            self._local.prefetch = None

    def share_image_hash(self, session: Session, path: Path) -> None:
        """Hand the checks part the pHash a worker took of the photo at ``path`` (analysed ahead), so
        that its ingest hook, in ``session``, stores it instead of decoding the photo again here."""
        prefetch: Prefetch | None = getattr(self._local, "prefetch", None)
        found = prefetch.image_hash(path) if prefetch is not None else None
        if found is not None:
            from imint.checks.duplicates import PRECOMPUTED_HASHES

            sha256, image_hash = found
            session.info.setdefault(PRECOMPUTED_HASHES, {})[sha256] = image_hash

    def _scanned(self, sha256: str) -> bool:
        with self.ws.session() as s:
            return s.get(FaceScan, (sha256, self.model_id)) is not None

    def analyze_photo(self, evidence: Evidence) -> Faces:
        """Detect, assess and embed the faces of a stored photo: analysed ahead (``_prefetching``),
        else in a worker when the server has a pool, else with this process's engine."""
        prefetch: Prefetch | None = getattr(self._local, "prefetch", None)
        done = prefetch.take(evidence.sha256) if prefetch is not None else None
        if done is None:
            pool = self.pool
            if pool is None:
                return self.engine.analyze(self.ws.read_image(evidence))
            done = pool.analyze(evidence.stored_path, evidence.original_name)
        if done.faces is None:
            raise BadInputError(done.error or "could not be analysed", subject=evidence.original_name)
        return done.faces

    # -- analysis ----------------------------------------------------------------------------
    def analyze_evidence(self, session: Session, evidence: Evidence) -> tuple[list[FaceRow], bool]:
        return analysis.analyze_evidence(self, session, evidence)

    def store_analysis(self, session: Session, evidence: Evidence, faces: Faces) -> list[FaceRow]:
        return analysis.store_analysis(session, evidence, faces, self.model_id)

    def store_faces(
        self, session: Session, sha256: str, faces: Faces, frame_time: float | None = None
    ) -> list[FaceRow]:
        return analysis.store_faces(session, sha256, faces, self.model_id, frame_time)

    # -- the reference index -------------------------------------------------------------------
    def reference_index(self) -> tuple[FaceIndex, dict[int, int]]:
        return self.index.get()

    def reference_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.index.vectors()

    def invalidate_index(self) -> None:
        self.index.invalidate()

    # -- gallery ----------------------------------------------------------------------------------
    def list_persons(self) -> list[dict[str, Any]]:
        return gallery.list_persons(self.ws)

    def remove_person(self, name: str) -> None:
        gallery.remove_person(self, name)

    def update_person(
        self,
        name: str,
        *,
        new_name: str | None = None,
        aliases: list[str] | None = None,
        notes: str | None = None,
    ) -> None:
        gallery.update_person(self, name, new_name=new_name, aliases=aliases, notes=notes)

    def add_to_watchlist(self, watchlist: str, names: Sequence[str]) -> None:
        gallery.add_to_watchlist(self.ws, watchlist, names)

    def watchlist_members(self, watchlist: str) -> set[int]:
        return gallery.watchlist_members(self.ws, watchlist)

    def list_watchlists(self) -> list[dict[str, Any]]:
        return gallery.list_watchlists(self.ws)

    def enroll(
        self,
        name: str,
        photos: str | Path | Sequence[str | Path],
        *,
        retro_hunt: bool = True,
        **options: Any,
    ) -> EnrollResult:
        """Enroll (or add reference photos to) a person (see ``imint.faces.gallery.enroll``), then
        search the back catalogue for them (``retro_hunt``): new candidates go to the review queue."""
        given = [Path(photos)] if isinstance(photos, (str, Path)) else [Path(p) for p in photos]
        # Reference photos are analysed before the enrollment's write transaction, which holds the
        # gallery: here too when there is no pool (a CLI run beside a server).
        with self._prefetching(self._photos_in(given, everywhere=True), here=True) as prefetch:
            if prefetch is not None:
                prefetch.wait()  # all of them: one transaction stores every reference photo
            result = gallery.enroll(self, name, photos, **options)
        if retro_hunt and result.references_added:
            result.retro_candidates = collection.retro_hunt(self, result.person_id)
        return result

    # -- the collection ---------------------------------------------------------------------------
    def ingest(self, paths: str | Path | Iterable[str | Path], **options: Any) -> collection.IngestReport:
        """Add photos and videos and analyse every face once (see ``imint.faces.collection.ingest``)."""
        return collection.ingest(self, paths, **options)

    def find(self, **options: Any) -> collection.FindResult:
        """Where else does a person (or a face) appear? (see ``imint.faces.collection.find``)."""
        return collection.find(self, **options)

    # -- search -------------------------------------------------------------------------------------
    def match_faces(
        self,
        embeddings: np.ndarray,
        qualities: np.ndarray,
        reasons: Sequence[str],
        *,
        fpir: float = DEFAULT_FPIR,
        k: int = DEFAULT_TOP_K,
        watchlist: str | None = None,
    ) -> list[list[Candidate]]:
        return search.match_faces(self, embeddings, qualities, reasons, fpir=fpir, k=k, watchlist=watchlist)

    def record_matches(self, s: Session, face_id: int, cands: list[Candidate]) -> list[Candidate]:
        return search.record_matches(s, face_id, cands)

    def search(self, paths: str | Path | Iterable[str | Path], **options: Any) -> SearchResults:
        """Find enrolled people in photos and videos (see ``imint.faces.search.search``)."""
        listed = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
        photos = self._photos_in(
            listed, follow_links=options.get("follow_links", True), by_bytes=options.get("by_bytes", False)
        )
        with self._prefetching(photos) as prefetch:
            if prefetch is not None:
                # ``search`` reports progress just before each photo's transaction: the photo's
                # analysis is waited for there, outside it.
                options["progress"] = _waiting_progress(prefetch, options.get("progress"))
            return search.search(self, listed, **options)

    def _photos_in(self, paths: Sequence[Path], *, everywhere: bool = False, **how: bool) -> list[Path]:
        """The photos among ``paths`` in the order the search and enroll loops take them (none
        without a pool unless ``everywhere``: nothing is sent ahead then, nor are folders walked twice)."""
        if self.pool is None and not everywhere:
            return []
        try:
            return sort_media(paths, **how)[0]
        except ImintError:
            return []  # the loop itself reports the bad path

    def annotate(self, result: MediaResult, out_dir: Path) -> Path:
        return search.annotate(self.ws, result, out_dir)

    # -- 1:1 ------------------------------------------------------------------------------------------
    def verify(self, a: str | Path, b: str | Path, *, fmr: float = DEFAULT_FMR) -> FaceComparison:
        with self._prefetching(self._photos_in([Path(a), Path(b)])) as prefetch:
            if prefetch is not None:
                prefetch.wait()  # both: one transaction stores the two photos
            return verify.verify(self, a, b, fmr=fmr)

    # -- review -----------------------------------------------------------------------------------------
    def list_matches(self, status: str | None = "candidate", *, limit: int | None = None) -> list[dict]:
        return review.list_matches(self.ws, status, limit=limit)

    def decide(self, candidate_id: int, status: str, note: str = "") -> dict[str, Any]:
        """Confirm or reject a candidate; records who and when."""
        return review.decide(self.ws, candidate_id, status, note)


def _waiting_progress(prefetch: Prefetch, progress: ProgressFn | None) -> ProgressFn:
    """A search progress callback that first waits for the analysis of the photo about to be stored."""

    def report(done: int, total: int, what: str = "") -> None:
        if what:
            prefetch.wait(what)
        if progress is not None:
            progress(done, total, what)

    return report
