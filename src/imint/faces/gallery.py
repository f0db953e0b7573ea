"""The gallery: enrolled persons, their reference photos, and watchlists.

Every change to it (enroll, rename, remove, watchlist edits, review decisions, cluster
edits) runs under :func:`gallery_lock`, whoever makes it: the CLI, a web request or a
background job. The lock is one per workspace in a process (threads of the server) and a
file lock on ``WORKSPACE/index/gallery.lock`` across processes (a CLI run beside the server).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imint.errors import BadInputError, ConflictError, ImintError, NotFoundError, ValidationError
from imint.faces.analysis import analyze_evidence, choose_face
from imint.faces.quality import is_poor
from imint.faces.results import EnrollResult, ProgressFn
from imint.faces.tables import Person, ReferencePhoto, Watchlist, WatchlistMember
from imint.media.ingest import log_custody
from imint.media.sniff import sort_media

try:  # POSIX; elsewhere the lock holds between threads of one process only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from imint.faces.service import FaceService
    from imint.workspace import Workspace


class _GalleryLock:
    """Re-entrant within a thread (a cluster promotion enrolls), exclusive across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fh: Any = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self._fh = self.path.open("a")
                if fcntl is not None:
                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._fh.close()  # closing releases the file lock
                    self._fh = None


_locks: dict[Path, _GalleryLock] = {}
_locks_guard = threading.Lock()


def gallery_lock(ws: Workspace) -> contextlib.AbstractContextManager[None]:
    """Hold the workspace's gallery write lock (``with gallery_lock(ws): ...``)."""
    path = ws.index_dir / "gallery.lock"
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = _GalleryLock(path)
    return lock.held()


# -- persons ------------------------------------------------------------------------------
def find_person(session: Session, name: str) -> Person:
    person = session.scalar(select(Person).where(Person.name == name))
    if person is None:
        raise NotFoundError("no such person in the workspace", subject=name)
    return person


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError("no such person", subject=f"person {person_id}")
    return person


def person_name(ws: Workspace, person_id: int) -> str:
    with ws.session() as s:
        return get_person(s, person_id).name


def person_id_of(ws: Workspace, name: str) -> int | None:
    with ws.session() as s:
        person = s.scalar(select(Person).where(Person.name == name))
        return person.id if person else None


def list_persons(ws: Workspace) -> list[dict[str, Any]]:
    with ws.session() as s:
        persons = s.scalars(select(Person).order_by(Person.name)).all()
        return [p.to_dict() | {"references": len(p.references)} for p in persons]


def person_dict(p: Person, n_refs: int = 0, watchlists: list[str] | None = None) -> dict[str, Any]:
    """A person as the web pages show it."""
    return p.to_dict() | {"reference_photos": n_refs, "watchlists": watchlists or []}


def _watchlists_of(s: Session, person_ids: list[int]) -> dict[int, list[str]]:
    rows = s.execute(
        select(WatchlistMember.person_id, Watchlist.name)
        .join(Watchlist, Watchlist.id == WatchlistMember.watchlist_id)
        .where(WatchlistMember.person_id.in_(person_ids))
    )
    out: dict[int, list[str]] = {}
    for pid, name in rows:
        out.setdefault(pid, []).append(name)
    return out


def persons_overview(ws: Workspace, name_part: str | None = None) -> list[dict[str, Any]]:
    """Enrolled persons with their reference counts and watchlists (``name_part``: a filter)."""
    with ws.session() as s:
        stmt = (
            select(Person, func.count(ReferencePhoto.id))
            .outerjoin(ReferencePhoto, ReferencePhoto.person_id == Person.id)
            .group_by(Person.id)
            .order_by(Person.name)
        )
        if name_part:
            # A bound parameter, never string formatting: the filter can hold anything.
            stmt = stmt.where(Person.name.contains(name_part, autoescape=True))
        rows = s.execute(stmt).all()
        lists = _watchlists_of(s, [p.id for p, _ in rows])
        return [person_dict(p, n, lists.get(p.id)) for p, n in rows]


def person_detail(ws: Workspace, person_id: int) -> dict[str, Any]:
    """A person (as the pages show it) and their reference photos."""
    with ws.session() as s:
        person = get_person(s, person_id)
        refs = list(s.scalars(select(ReferencePhoto).where(ReferencePhoto.person_id == person_id)))
        return {
            "person": person_dict(person, len(refs), _watchlists_of(s, [person_id]).get(person_id)),
            "references": [
                {
                    "face_id": r.face_id,
                    "evidence_sha256": r.evidence_sha256,
                    "added_at": r.added_at,
                    "added_by": r.added_by,
                }
                for r in refs
            ],
        }


def person_page_dict(ws: Workspace, person_id: int) -> dict[str, Any]:
    with ws.session() as s:
        return person_dict(get_person(s, person_id))


def remove_person(faces: FaceService, name: str) -> None:
    with gallery_lock(faces.ws), faces.ws.session() as s:
        s.delete(find_person(s, name))
    faces.invalidate_index()


def update_person(
    faces: FaceService,
    name: str,
    *,
    new_name: str | None = None,
    aliases: list[str] | None = None,
    notes: str | None = None,
) -> None:
    with gallery_lock(faces.ws), faces.ws.session() as s:
        person = find_person(s, name)
        if new_name and new_name != name:
            if s.scalar(select(Person).where(Person.name == new_name)):
                raise ConflictError("a person with this name exists already", subject=new_name)
            person.name = new_name
        if aliases is not None:
            person.aliases = aliases
        if notes is not None:
            person.notes = notes


# -- watchlists -----------------------------------------------------------------------------
def _watchlist_named(s: Session, name: str, *, create: bool = False) -> Watchlist | None:
    wl = s.scalar(select(Watchlist).where(Watchlist.name == name))
    if wl is None and create:
        wl = Watchlist(name=name)
        s.add(wl)
        s.flush()
    return wl


def _get_watchlist(s: Session, watchlist_id: int) -> Watchlist:
    wl = s.get(Watchlist, watchlist_id)
    if wl is None:
        raise NotFoundError("no such watchlist", subject=f"watchlist {watchlist_id}")
    return wl


def _add_member(s: Session, wl: Watchlist, person: Person) -> None:
    if s.get(WatchlistMember, (wl.id, person.id)) is None:
        s.add(WatchlistMember(watchlist_id=wl.id, person_id=person.id))


def add_to_watchlist(ws: Workspace, watchlist: str, names: Sequence[str]) -> None:
    """Add persons (by name) to a watchlist, created if new."""
    with gallery_lock(ws), ws.session() as s:
        wl = _watchlist_named(s, watchlist, create=True)
        for name in names:
            _add_member(s, wl, find_person(s, name))


def create_watchlist(ws: Workspace, name: str, description: str = "") -> dict[str, Any]:
    with gallery_lock(ws), ws.session() as s:
        if _watchlist_named(s, name) is not None:
            raise ConflictError("a watchlist with this name exists", subject=name)
        w = Watchlist(name=name, description=description)
        s.add(w)
        s.flush()
        return {"id": w.id, "name": w.name, "description": w.description}


def set_watchlist_member(ws: Workspace, watchlist_id: int, person_id: int, *, member: bool) -> dict[str, Any]:
    """Add a person to a watchlist (``member=True``) or remove them; names both."""
    with gallery_lock(ws), ws.session() as s:
        wl = _get_watchlist(s, watchlist_id)
        person = get_person(s, person_id)
        row = s.get(WatchlistMember, (watchlist_id, person_id))
        if member and row is None:
            s.add(WatchlistMember(watchlist_id=watchlist_id, person_id=person_id))
        elif not member and row is not None:
            s.delete(row)
        return {"watchlist": wl.name, "person": person.name}


def watchlist_members(ws: Workspace, watchlist: str) -> set[int]:
    """Person ids on a watchlist (by name)."""
    with ws.session() as s:
        wl = _watchlist_named(s, watchlist)
        if wl is None:
            raise NotFoundError("no such watchlist", subject=watchlist)
        return set(s.scalars(select(WatchlistMember.person_id).where(WatchlistMember.watchlist_id == wl.id)))


def watchlist_names(ws: Workspace) -> list[str]:
    with ws.session() as s:
        return [w.name for w in s.scalars(select(Watchlist).order_by(Watchlist.name))]


def list_watchlists(ws: Workspace) -> list[dict[str, Any]]:
    """Every watchlist with its members' names."""
    with ws.session() as s:
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


def watchlist_summaries(ws: Workspace) -> list[dict[str, Any]]:
    """Every watchlist with its member count (the watchlists page)."""
    with ws.session() as s:
        rows = s.execute(
            select(Watchlist, func.count(WatchlistMember.person_id))
            .outerjoin(WatchlistMember, WatchlistMember.watchlist_id == Watchlist.id)
            .group_by(Watchlist.id)
            .order_by(Watchlist.name)
        ).all()
        return [
            {
                "id": w.id,
                "name": w.name,
                "description": w.description,
                "created_at": w.created_at,
                "members": n,
            }
            for w, n in rows
        ]


def watchlist_detail(ws: Workspace, watchlist_id: int) -> dict[str, Any]:
    """A watchlist, its members, and every person (to add from)."""
    with ws.session() as s:
        w = _get_watchlist(s, watchlist_id)
        members = s.scalars(
            select(Person)
            .join(WatchlistMember, WatchlistMember.person_id == Person.id)
            .where(WatchlistMember.watchlist_id == watchlist_id)
            .order_by(Person.name)
        )
        return {
            "watchlist": {
                "id": w.id,
                "name": w.name,
                "description": w.description,
                "created_at": w.created_at,
            },
            "members": [person_dict(p) for p in members],
            "persons": [
                {"id": p.id, "name": p.name} for p in s.scalars(select(Person).order_by(Person.name))
            ],
        }


# -- enroll --------------------------------------------------------------------------------
def _reference_photos(photos: str | Path | Sequence[str | Path], name: str) -> list[Path]:
    given = [Path(photos)] if isinstance(photos, (str, Path)) else [Path(p) for p in photos]
    stills, videos = sort_media(given)
    # A video named as a reference photo is tried too, to be refused with its name ("not a photo");
    # videos inside folders are not reference photos and are left out.
    listed = stills + [v for v in videos if v in given]
    if not listed:
        raise ValidationError("no reference photo given", subject=name)
    return listed


def _find_or_create_person(faces: FaceService, s: Session, name: str, **fields: Any) -> Person:
    person = s.scalar(select(Person).where(Person.name == name))
    if person is None:
        person = Person(name=name, created_by=faces.ws.user, **fields)
        s.add(person)
        s.flush()
    return person


def _add_reference(
    faces: FaceService, s: Session, person: Person, photo: Path, face_choice: str, problems: list[str]
) -> bool:
    """Ingest one photo and make its chosen face a reference of ``person``; True when one was added."""
    try:
        with s.begin_nested():
            evidence = faces.ws.ingest(photo, source=f"reference photo of {person.name}", session=s)
            rows, _ = analyze_evidence(faces, s, evidence)
    except ImintError as exc:
        problems.append(str(exc))
        return False
    chosen = choose_face(rows, face_choice, evidence)
    if chosen is None:
        problems.append(f"{photo}: no face found")
        return False
    if is_poor(chosen.quality_reason):
        problems.append(f"{photo}: face not used for enrollment ({chosen.quality_reason})")
        return False
    if len(rows) > 1 and face_choice == "largest":
        problems.append(f"{photo}: {len(rows)} faces, the largest was used")
    exists = s.scalar(
        select(ReferencePhoto).where(
            ReferencePhoto.person_id == person.id, ReferencePhoto.face_id == chosen.id
        )
    )
    if exists is not None:
        return False
    s.add(
        ReferencePhoto(
            person_id=person.id, face_id=chosen.id, evidence_sha256=evidence.sha256, added_by=faces.ws.user
        )
    )
    log_custody(s, evidence.sha256, "enrolled", faces.ws.user, person=person.name, face_id=chosen.id)
    return True


def enroll(
    faces: FaceService,
    name: str,
    photos: str | Path | Sequence[str | Path],
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
    listed = _reference_photos(photos, name)
    problems: list[str] = []
    added = 0
    with gallery_lock(faces.ws), faces.ws.session() as s:
        person = _find_or_create_person(
            faces,
            s,
            name,
            aliases=list(aliases),
            notes=notes,
            listing_source=listing_source,
            listing_reason=listing_reason,
        )
        for i, photo in enumerate(listed):
            if progress:
                progress(i, len(listed), str(photo))
            added += _add_reference(faces, s, person, photo, face_choice, problems)
        if not person.references and added == 0:
            raise BadInputError(
                "no usable reference face; nothing enrolled (" + "; ".join(problems) + ")", subject=name
            )
        if watchlist:
            s.flush()
            _add_member(s, _watchlist_named(s, watchlist, create=True), person)
        person_id = person.id
    faces.invalidate_index()
    return EnrollResult(person_id=person_id, name=name, references_added=added, problems=problems)
