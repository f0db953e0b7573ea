"""Face work on a workspace: enroll, search (1:N), verify (1:1), review candidates.

Everything here goes through the workspace's one ingest path, so every face
record points at an evidence hash, and through one database transaction per file,
so a bad file never leaves half a record behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from imint.errors import BadInputError, ConflictError, ImintError, NotFoundError, ValidationError
from imint.faces.annotate import draw_faces, format_fmr
from imint.faces.calibration import DEFAULT_FMR, DEFAULT_FPIR
from imint.faces.engine import DEFAULT_MODEL, FaceEngine, get_engine
from imint.faces.quality import is_poor
from imint.faces.tables import FaceRow, FaceScan, Match, Person, ReferencePhoto, Watchlist, WatchlistMember
from imint.media.images import IMAGE_SUFFIXES
from imint.media.ingest import ingest_file, log_custody
from imint.records import Candidate, Evidence, Faces
from imint.store.db import utcnow
from imint.store.index import FaceIndex, FaissIndex, stamp_of

if TYPE_CHECKING:
    from imint.workspace import Workspace

ProgressFn = Callable[[int, int, str], None]

# Candidates listed per face by default; a face's identity is the first of them above the
# operating point (``identified_as``).
DEFAULT_TOP_K = 5


def identified_as(candidates: Sequence[Candidate]) -> Candidate | None:
    """Whom a face is taken for: its best-ranked candidate above the operating point, or None
    ("unknown"). `imint search` and `imint eval faces` both decide by this."""
    return next((c for c in candidates if c.above_threshold), None)


# -- results ------------------------------------------------------------------------
@dataclass
class FaceResult:
    """One face found in a searched file, with its candidate identities."""

    face_id: int
    box: tuple[float, float, float, float]
    det_score: float
    quality: float
    quality_reason: str
    candidates: list[Candidate] = field(default_factory=list)
    frame_time: float | None = None

    @property
    def poor(self) -> bool:
        return is_poor(self.quality_reason)

    @property
    def best(self) -> Candidate | None:
        """The top candidate above the operating point, or None ("unknown")."""
        return identified_as(self.candidates)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "face_id": self.face_id,
            "box": [round(v, 1) for v in self.box],
            "frame_time": self.frame_time,
            "detector_score": round(self.det_score, 4),
            "quality": round(self.quality, 3),
            "quality_reason": self.quality_reason,
            "poor_quality": self.poor,
            "identity": best.person_name if best else None,
            "candidates": [
                {
                    "person": c.person_name,
                    "person_id": c.person_id,
                    "rank": c.rank,
                    "score": round(c.score, 4),
                    "fmr": c.fmr,
                    "above_threshold": c.above_threshold,
                    "operating_point": c.operating_point,
                    "status": c.status,
                }
                for c in self.candidates
            ],
        }


@dataclass
class MediaResult:
    """What a search found in one file (or why it could not look)."""

    path: str
    evidence: Evidence | None = None
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    reused: bool = False  # faces came from an earlier run over the same bytes
    annotated_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.evidence.sha256 if self.evidence else None,
            "error": self.error,
            "reused_earlier_analysis": self.reused,
            "annotated": self.annotated_path,
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass
class EnrollResult:
    person_id: int
    name: str
    references_added: int
    problems: list[str] = field(default_factory=list)


@dataclass
class VerifyResult:
    score: float
    fmr: float
    same_person: bool
    threshold: float
    operating_point: str
    quality_a: float
    quality_b: float
    reason_a: str
    reason_b: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _embedding(row: FaceRow) -> np.ndarray:
    return np.frombuffer(row.embedding, dtype=np.float32) if row.embedding else np.zeros(0, np.float32)


def expand_paths(paths: str | Path | Iterable[str | Path], suffixes: set[str] | None = None) -> list[Path]:
    """Files as given, and every matching file under given folders (recursively, sorted)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    suffixes = suffixes or IMAGE_SUFFIXES
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in suffixes))
        else:
            out.append(p)
    return out


class FaceService:
    """Face operations bound to one workspace and one model."""

    def __init__(self, ws: Workspace, model_id: str = DEFAULT_MODEL) -> None:
        self.ws = ws
        self.model_id = model_id
        self._engine: FaceEngine | None = None
        self._index: FaceIndex | None = None
        self._index_owner: np.ndarray | None = None  # reference face id -> person id, aligned with index ids
        self._ref_quality: dict[int, float] = {}

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            self._engine = get_engine(self.model_id)
        return self._engine

    # -- analysis, stored once per (file, model) ---------------------------------------
    def analyze_evidence(self, session: Session, evidence: Evidence) -> tuple[list[FaceRow], bool]:
        """Faces of an image evidence, computed once and reused by hash afterwards."""
        scan = session.get(FaceScan, (evidence.sha256, self.model_id))
        if scan is not None:
            rows = session.scalars(
                select(FaceRow)
                .where(FaceRow.evidence_sha256 == evidence.sha256, FaceRow.model_id == self.model_id)
                .where(FaceRow.frame_time.is_(None))
                .order_by(FaceRow.id)
            ).all()
            return list(rows), True
        if evidence.kind != "image":
            raise BadInputError(f"not a photo (detected as {evidence.kind})", subject=evidence.original_name)
        faces = self.engine.analyze(self.ws.read_image(evidence))
        return self.store_analysis(session, evidence, faces), False

    def store_analysis(self, session: Session, evidence: Evidence, faces: Faces) -> list[FaceRow]:
        """Store the faces of a photo analysed elsewhere (e.g. in a worker process) and mark it scanned."""
        rows = self.store_faces(session, evidence.sha256, faces)
        session.add(FaceScan(evidence_sha256=evidence.sha256, model_id=self.model_id, n_faces=len(rows)))
        session.flush()
        return rows

    def store_faces(
        self, session: Session, sha256: str, faces: Faces, frame_time: float | None = None
    ) -> list[FaceRow]:
        rows = []
        for i in range(len(faces)):
            row = FaceRow(
                evidence_sha256=sha256,
                frame_time=frame_time,
                x1=float(faces.boxes[i, 0]),
                y1=float(faces.boxes[i, 1]),
                x2=float(faces.boxes[i, 2]),
                y2=float(faces.boxes[i, 3]),
                landmarks=faces.landmarks[i].round(2).tolist(),
                det_score=float(faces.scores[i]),
                quality=float(faces.quality[i]),
                quality_reason=faces.quality_reason[i],
                embedding=faces.embeddings[i].astype(np.float32).tobytes()
                if faces.embeddings is not None
                else None,
                model_id=self.model_id,
            )
            session.add(row)
            rows.append(row)
        session.flush()
        return rows

    # -- reference index ---------------------------------------------------------------
    def _invalidate_index(self) -> None:
        self._index = None
        self._index_owner = None

    def reference_index(self) -> tuple[FaceIndex, dict[int, int]]:
        """The 1:N index of reference faces, loaded from disk or rebuilt from the database."""
        with self.ws.session() as s:
            refs = s.execute(
                select(ReferencePhoto.face_id, ReferencePhoto.person_id, FaceRow.embedding, FaceRow.quality)
                .join(FaceRow, FaceRow.id == ReferencePhoto.face_id)
                .where(FaceRow.model_id == self.model_id)
            ).all()
        owner = {int(r.face_id): int(r.person_id) for r in refs}
        self._ref_quality = {int(r.face_id): float(r.quality) for r in refs}
        ids = np.array(sorted(owner), dtype=np.int64)
        stamp = stamp_of(ids)
        if self._index is not None and getattr(self._index, "stamp", None) == stamp:
            return self._index, owner
        vecs = (
            np.stack([np.frombuffer(r.embedding, np.float32) for r in refs])
            if refs
            else np.zeros((0, self.engine.embedder.dim), np.float32)
        )
        slug = self.model_id.replace("/", "_").replace("+", "-").replace(":", "")
        milvus_uri = self.ws.settings.index_uri
        if milvus_uri:
            # A distributed index (or milvus-lite when the URI is a file path).
            from imint.store.milvus_index import MilvusIndex

            index = MilvusIndex(milvus_uri, f"faces_{slug}".replace("-", "_"), self.engine.embedder.dim)
            index.sync(np.array([r.face_id for r in refs], np.int64), vecs)
        else:
            path = self.ws.index_dir / f"faces-{slug}.faiss"
            index = FaissIndex.load(path, stamp)
            if index is None:
                index = FaissIndex(self.engine.embedder.dim)
                if refs:
                    index.add(np.array([r.face_id for r in refs], np.int64), vecs)
                index.save(path, stamp)
        index.stamp = stamp  # type: ignore[union-attr]
        self._index = index
        return index, owner

    def reference_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All reference faces as arrays: face ids, person ids, embeddings (from the database)."""
        with self.ws.session() as s:
            refs = s.execute(
                select(ReferencePhoto.face_id, ReferencePhoto.person_id, FaceRow.embedding)
                .join(FaceRow, FaceRow.id == ReferencePhoto.face_id)
                .where(FaceRow.model_id == self.model_id)
                .order_by(ReferencePhoto.face_id)
            ).all()
        dim = self.engine.embedder.dim
        return (
            np.array([r.face_id for r in refs], np.int64),
            np.array([r.person_id for r in refs], np.int64),
            np.stack([np.frombuffer(r.embedding, np.float32) for r in refs])
            if refs
            else np.zeros((0, dim), np.float32),
        )

    # -- persons and watchlists -------------------------------------------------------
    def _person(self, session: Session, name: str) -> Person:
        person = session.scalar(select(Person).where(Person.name == name))
        if person is None:
            raise NotFoundError("no such person in the workspace", subject=name)
        return person

    def list_persons(self) -> list[dict[str, Any]]:
        with self.ws.session() as s:
            persons = s.scalars(select(Person).order_by(Person.name)).all()
            return [p.to_dict() | {"references": len(p.references)} for p in persons]

    def remove_person(self, name: str) -> None:
        with self.ws.session() as s:
            s.delete(self._person(s, name))
        self._invalidate_index()

    def update_person(
        self,
        name: str,
        *,
        new_name: str | None = None,
        aliases: list[str] | None = None,
        notes: str | None = None,
    ) -> None:
        with self.ws.session() as s:
            person = self._person(s, name)
            if new_name and new_name != name:
                if s.scalar(select(Person).where(Person.name == new_name)):
                    raise ConflictError("a person with this name exists already", subject=new_name)
                person.name = new_name
            if aliases is not None:
                person.aliases = aliases
            if notes is not None:
                person.notes = notes

    def add_to_watchlist(self, watchlist: str, names: Sequence[str]) -> None:
        with self.ws.session() as s:
            wl = s.scalar(select(Watchlist).where(Watchlist.name == watchlist))
            if wl is None:
                wl = Watchlist(name=watchlist)
                s.add(wl)
                s.flush()
            for name in names:
                person = self._person(s, name)
                if s.get(WatchlistMember, (wl.id, person.id)) is None:
                    s.add(WatchlistMember(watchlist_id=wl.id, person_id=person.id))

    def watchlist_members(self, watchlist: str) -> set[int]:
        with self.ws.session() as s:
            wl = s.scalar(select(Watchlist).where(Watchlist.name == watchlist))
            if wl is None:
                raise NotFoundError("no such watchlist", subject=watchlist)
            return set(
                s.scalars(select(WatchlistMember.person_id).where(WatchlistMember.watchlist_id == wl.id))
            )

    def list_watchlists(self) -> list[dict[str, Any]]:
        with self.ws.session() as s:
            out = []
            for wl in s.scalars(select(Watchlist).order_by(Watchlist.name)):
                members = s.scalars(
                    select(Person.name)
                    .join(WatchlistMember, WatchlistMember.person_id == Person.id)
                    .where(WatchlistMember.watchlist_id == wl.id)
                ).all()
                out.append(
                    {"id": wl.id, "name": wl.name, "description": wl.description, "members": list(members)}
                )
            return out

    # -- enroll ----------------------------------------------------------------------
    def enroll(
        self,
        name: str,
        photos: Sequence[str | Path],
        *,
        aliases: Sequence[str] = (),
        notes: str = "",
        listing_source: str = "",
        listing_reason: str = "",
        watchlist: str | None = None,
        face_choice: str = "largest",
        progress: ProgressFn | None = None,
    ) -> EnrollResult:
        """Enroll (or add reference photos to) a person.

        Each photo gives one reference face: the largest (``face_choice="largest"``)
        or the one nearest the image centre (``"center"``). Poor-quality faces are
        refused with their reason; if no photo gives a usable face, nothing is stored.
        """
        name = name.strip()
        if not name:
            raise ValidationError("a person needs a name", subject="name")
        if isinstance(photos, (str, Path)):
            photos = [photos]
        photos = expand_paths(photos)
        if not photos:
            raise ValidationError("no reference photo given", subject=name)
        problems: list[str] = []
        added = 0
        with self.ws.session() as s:
            person = s.scalar(select(Person).where(Person.name == name))
            if person is None:
                person = Person(
                    name=name,
                    aliases=list(aliases),
                    notes=notes,
                    listing_source=listing_source,
                    listing_reason=listing_reason,
                    created_by=self.ws.user,
                )
                s.add(person)
                s.flush()
            for i, photo in enumerate(photos):
                if progress:
                    progress(i, len(photos), str(photo))
                try:
                    with s.begin_nested():
                        evidence = ingest_file(
                            s,
                            self.ws.objects_dir,
                            photo,
                            added_by=self.ws.user,
                            source=f"reference photo of {name}",
                        )
                        rows, _ = self.analyze_evidence(s, evidence)
                except ImintError as exc:
                    problems.append(str(exc))
                    continue
                chosen = self._choose_face(rows, face_choice, evidence)
                if chosen is None:
                    problems.append(f"{photo}: no face found")
                    continue
                if is_poor(chosen.quality_reason):
                    problems.append(f"{photo}: face not used for enrollment ({chosen.quality_reason})")
                    continue
                if len(rows) > 1 and face_choice == "largest":
                    problems.append(f"{photo}: {len(rows)} faces, the largest was used")
                exists = s.scalar(
                    select(ReferencePhoto).where(
                        ReferencePhoto.person_id == person.id, ReferencePhoto.face_id == chosen.id
                    )
                )
                if exists is None:
                    s.add(
                        ReferencePhoto(
                            person_id=person.id,
                            face_id=chosen.id,
                            evidence_sha256=evidence.sha256,
                            added_by=self.ws.user,
                        )
                    )
                    log_custody(s, evidence.sha256, "enrolled", self.ws.user, person=name, face_id=chosen.id)
                    added += 1
            if not person.references and added == 0:
                raise BadInputError(
                    "no usable reference face; nothing enrolled (" + "; ".join(problems) + ")", subject=name
                )
            if watchlist:
                s.flush()
                wl = s.scalar(select(Watchlist).where(Watchlist.name == watchlist))
                if wl is None:
                    wl = Watchlist(name=watchlist)
                    s.add(wl)
                    s.flush()
                if s.get(WatchlistMember, (wl.id, person.id)) is None:
                    s.add(WatchlistMember(watchlist_id=wl.id, person_id=person.id))
            person_id = person.id
        self._invalidate_index()
        return EnrollResult(person_id=person_id, name=name, references_added=added, problems=problems)

    @staticmethod
    def _choose_face(rows: list[FaceRow], how: str, evidence: Evidence) -> FaceRow | None:
        if not rows:
            return None
        if how == "center":
            w = float(evidence.metadata.get("width") or max(r.x2 for r in rows))
            h = float(evidence.metadata.get("height") or max(r.y2 for r in rows))
            return min(
                rows, key=lambda r: ((r.x1 + r.x2) / 2 - w / 2) ** 2 + ((r.y1 + r.y2) / 2 - h / 2) ** 2
            )
        return max(rows, key=lambda r: (r.x2 - r.x1) * (r.y2 - r.y1))

    # -- 1:N search -----------------------------------------------------------------------
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
        """Candidate lists for embedded faces against the enrolled references.

        A candidate is above the operating point when its score clears the
        threshold for the FPIR asked, at the lower quality of the two faces.
        Poor faces get candidates listed but never above the threshold.
        """
        index, owner = self.reference_index()
        allowed = self.watchlist_members(watchlist) if watchlist else None
        n_refs = sum(1 for pid in owner.values() if allowed is None or pid in allowed)
        if len(index) == 0 or len(embeddings) == 0 or n_refs == 0:
            return [[] for _ in range(len(embeddings))]
        with self.ws.session() as s:
            names = dict(s.execute(select(Person.id, Person.name)).all())
        cal = self.engine.calibration
        op = f"fpir={fpir:g}"
        depth = min(len(index), max(4 * k, 32))
        scores, ids = index.search(np.asarray(embeddings, np.float32), depth)
        out: list[list[Candidate]] = []
        for qi in range(len(embeddings)):
            best: dict[int, tuple[float, int]] = {}
            for sc, fid in zip(scores[qi], ids[qi], strict=False):
                if fid < 0:
                    continue
                pid = owner.get(int(fid))
                if pid is None or (allowed is not None and pid not in allowed):
                    continue
                if pid not in best or sc > best[pid][0]:
                    best[pid] = (float(sc), int(fid))
            ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:k]
            cands = []
            for rank, (pid, (sc, fid)) in enumerate(ranked, start=1):
                q, q_ref = float(qualities[qi]), self._ref_quality.get(fid, 1.0)
                threshold = cal.threshold_for_fpir(fpir, q, n_refs, q_ref)
                cands.append(
                    Candidate(
                        person_id=pid,
                        person_name=names.get(pid, str(pid)),
                        score=sc,
                        fmr=cal.fmr(sc, q, q_ref),
                        rank=rank,
                        operating_point=op,
                        above_threshold=bool(sc >= threshold and not is_poor(reasons[qi])),
                    )
                )
            out.append(cands)
        return out

    def search(
        self,
        paths: str | Path | Iterable[str | Path],
        *,
        fpir: float = DEFAULT_FPIR,
        k: int = DEFAULT_TOP_K,
        watchlist: str | None = None,
        annotate_dir: str | Path | None = None,
        progress: ProgressFn | None = None,
    ) -> list[MediaResult]:
        """Find enrolled people in photos (files or folders, recursively).

        Every file is ingested and analysed in its own transaction: a bad file is
        reported in its result and the run goes on. Files analysed before (same
        bytes) are not analysed again.
        """
        files = expand_paths(paths)
        results: list[MediaResult] = []
        for i, path in enumerate(files):
            if progress:
                progress(i, len(files), str(path))
            results.append(
                self._search_one(path, fpir=fpir, k=k, watchlist=watchlist, annotate_dir=annotate_dir)
            )
        if progress:
            progress(len(files), len(files), "")
        return results

    def _search_one(
        self, path: Path, *, fpir: float, k: int, watchlist: str | None, annotate_dir: str | Path | None
    ) -> MediaResult:
        result = MediaResult(path=str(path))
        try:
            with self.ws.session() as s:
                evidence = ingest_file(s, self.ws.objects_dir, path, added_by=self.ws.user, source=str(path))
                rows, reused = self.analyze_evidence(s, evidence)
                log_custody(s, evidence.sha256, "searched", self.ws.user, model=self.model_id, fpir=fpir)
            result.evidence, result.reused = evidence, reused
        except ImintError as exc:
            result.error = str(exc)
            return result
        embeddings = (
            np.stack([_embedding(r) for r in rows])
            if rows
            else np.zeros((0, self.engine.embedder.dim), np.float32)
        )
        qualities = np.array([r.quality for r in rows], np.float32)
        reasons = [r.quality_reason for r in rows]
        candidates = self.match_faces(embeddings, qualities, reasons, fpir=fpir, k=k, watchlist=watchlist)
        with self.ws.session() as s:
            for row, cands in zip(rows, candidates, strict=True):
                cands = self.record_matches(s, row.id, cands)
                result.faces.append(
                    FaceResult(
                        face_id=row.id,
                        box=(row.x1, row.y1, row.x2, row.y2),
                        det_score=row.det_score,
                        quality=row.quality,
                        quality_reason=row.quality_reason,
                        candidates=cands,
                    )
                )
        if annotate_dir is not None and result.evidence is not None:
            result.annotated_path = str(self.annotate(result, Path(annotate_dir)))
        return result

    def record_matches(self, s: Session, face_id: int, cands: list[Candidate]) -> list[Candidate]:
        """Store candidates above the operating point; keep a person's earlier decision."""
        out = []
        for c in cands:
            m = s.scalar(select(Match).where(Match.face_id == face_id, Match.person_id == c.person_id))
            if c.above_threshold and m is None:
                m = Match(
                    face_id=face_id,
                    person_id=c.person_id,
                    score=c.score,
                    fmr=c.fmr,
                    rank=c.rank,
                    operating_point=c.operating_point,
                    status="candidate",
                )
                s.add(m)
            status = m.status if m is not None else "candidate"
            out.append(Candidate(**{**c.__dict__, "status": status}))
        return out

    def annotate(self, result: MediaResult, out_dir: Path) -> Path:
        assert result.evidence is not None
        image = self.ws.read_image(result.evidence)
        labelled = []
        for f in result.faces:
            if f.poor:
                labelled.append((f.box, "poor quality", "poor"))
            elif f.best is not None:
                state = "confirmed" if f.best.status == "confirmed" else "match"
                labelled.append((f.box, f"{f.best.person_name} ({format_fmr(f.best.fmr)})", state))
            else:
                labelled.append((f.box, "unknown", "unknown"))
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{Path(result.path).stem}-{result.evidence.sha256[:8]}.jpg"
        bgr = cv2.cvtColor(draw_faces(image, labelled), cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise BadInputError("could not encode the annotated image", subject=out)
        # Through a temp file: a run killed mid-write must not leave half a JPEG in exports/.
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(jpeg.tobytes())
        tmp.replace(out)
        return out

    # -- 1:1 -------------------------------------------------------------------------------
    def verify(self, a: str | Path, b: str | Path, *, fmr: float = DEFAULT_FMR) -> VerifyResult:
        """Compare the largest face of photo ``a`` with the largest face of photo ``b``."""
        picked = []
        with self.ws.session() as s:
            for p in (a, b):
                ev = ingest_file(s, self.ws.objects_dir, p, added_by=self.ws.user, source=str(p))
                rows, _ = self.analyze_evidence(s, ev)
                face = self._choose_face(rows, "largest", ev)
                if face is None:
                    raise BadInputError("no face found", subject=p)
                picked.append(face)
                log_custody(s, ev.sha256, "verified-face", self.ws.user, model=self.model_id)
        fa, fb = picked
        score = float(np.dot(_embedding(fa), _embedding(fb)))
        cal = self.engine.calibration
        threshold = cal.threshold_for_fmr(fmr, fa.quality, fb.quality)
        poor = is_poor(fa.quality_reason) or is_poor(fb.quality_reason)
        return VerifyResult(
            score=score,
            fmr=cal.fmr(score, fa.quality, fb.quality),
            same_person=bool(score >= threshold and not poor),
            threshold=threshold,
            operating_point=f"fmr={fmr:g}",
            quality_a=fa.quality,
            quality_b=fb.quality,
            reason_a=fa.quality_reason,
            reason_b=fb.quality_reason,
        )

    # -- review ------------------------------------------------------------------------------
    def list_matches(self, status: str | None = "candidate") -> list[dict[str, Any]]:
        with self.ws.session() as s:
            q = (
                select(
                    Match, Person.name, FaceRow.evidence_sha256, FaceRow.quality_reason, FaceRow.frame_time
                )
                .join(Person, Person.id == Match.person_id)
                .join(FaceRow, FaceRow.id == Match.face_id)
                .order_by(Match.fmr)
            )
            if status:
                q = q.where(Match.status == status)
            return [
                {
                    "match_id": m.id,
                    "face_id": m.face_id,
                    "person": name,
                    "score": m.score,
                    "fmr": m.fmr,
                    "operating_point": m.operating_point,
                    "status": m.status,
                    "decided_by": m.decided_by,
                    "decided_at": m.decided_at,
                    "evidence_sha256": sha,
                    "frame_time": ft,
                    "quality_reason": reason,
                }
                for m, name, sha, reason, ft in s.execute(q).all()
            ]

    def decide(self, match_id: int, status: str, note: str = "") -> dict[str, Any]:
        """Confirm or reject a candidate; records who and when."""
        if status not in ("confirmed", "rejected", "candidate"):
            raise ValidationError("status must be confirmed, rejected or candidate", subject=status)
        with self.ws.session() as s:
            m = s.get(Match, match_id)
            if m is None:
                raise NotFoundError("no such match", subject=str(match_id))
            m.status = status
            m.decided_by = self.ws.user
            m.decided_at = utcnow()
            m.note = note
            face = s.get(FaceRow, m.face_id)
            log_custody(
                s,
                face.evidence_sha256,
                f"match-{status}",
                self.ws.user,
                match_id=match_id,
                person_id=m.person_id,
            )
            return {
                "match_id": m.id,
                "status": m.status,
                "decided_by": m.decided_by,
                "decided_at": m.decided_at,
            }
