"""Near-duplicate search over the workspace's perceptual hashes, and when a picture was first seen.

Every image gets a 64-bit pHash and the pHash of its mirror image (``imint.media.phash``), stored in
``image_hashes`` at ingest (``ChecksPart.on_ingest``) or on the first check. A video gets the same hash of
up to ``MAX_KEYFRAMES`` frames taken evenly through it by the frame sampler (``imint.media.frames``), one
row each (method ``phash-64@<seconds>s``), when it is first checked (decoding is too slow for ingest); an
image then matches a video when it is close to any of its frames, and a video another when any two frames
are. The search is a plain numpy
Hamming scan over every stored hash: one XOR and popcount per stored image, fine up to about 10^5 images
(a few milliseconds per query); beyond that it wants a multi-index or BK-tree, which is not built.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from imint.checks.base import CheckContext, CheckResult
from imint.checks.tables import ImageHashRow
from imint.media.images import decode_image
from imint.media.phash import BITS, METHOD, hamming, hash_image, hex_to_uint64
from imint.store.models import CustodyEntry, EvidenceRow

# Bits of 64 that may differ for two files to count as copies of one picture. Measured (python -m
# imint.checks.measure): resized, re-encoded or mirrored copies 0, a 5 % crop 8, a 15 % crop 16 (missed);
# 190 pairs of different pictures: min 20, 5th percentile 24.
MAX_DISTANCE = 10
METHOD_ID = f"{METHOD} hamming<={MAX_DISTANCE} (numpy scan)"
# ``session.info[PRECOMPUTED_HASHES]``: ``{sha256: ImageHash}`` left by a caller that decoded the image
# already (the faces ingest's workers do), so the ingest hook does not decode it a second time; it is
# the same ``hash_image`` of the same decoded pixels.
PRECOMPUTED_HASHES = "imint.precomputed_image_hashes"
MAX_KEYFRAMES = 16  # frames hashed per video, evenly spaced (at most one a second)


def frame_method(t: float) -> str:
    return f"{METHOD}@{t:.1f}s"


def ensure_video_hashes(ctx: CheckContext, check: str = "near_duplicates") -> list[ImageHashRow]:
    """The stored keyframe hashes of this video, sampled and added to the session if missing."""
    from imint.media.frames import iter_frames, probe_video

    rows = list(
        ctx.session.scalars(
            select(ImageHashRow).where(
                ImageHashRow.evidence_sha256 == ctx.evidence.sha256, ImageHashRow.method.like(f"{METHOD}@%")
            )
        )
    )
    if rows:
        return rows
    info = probe_video(ctx.path)  # a BadInputError naming the stored file; the runner adds the name
    fps = min(1.0, MAX_KEYFRAMES / max(info.duration, 1e-3))
    for frame in iter_frames(ctx.path, fps=fps, info=info):
        h = hash_image(frame.rgb)
        row = ImageHashRow(
            evidence_sha256=ctx.evidence.sha256,
            method=frame_method(frame.time),
            hash_hex=h.hash_hex,
            mirror_hex=h.mirror_hex,
        )
        if ctx.session.get(ImageHashRow, (row.evidence_sha256, row.method)) is None:
            ctx.session.add(row)
            rows.append(row)
            _remember(ctx.session, row)
        if len(rows) >= MAX_KEYFRAMES:
            break
    if not rows:
        raise ctx.fail(check, "no frame of the video could be decoded to hash it")
    ctx.session.flush()
    return rows


def query_hashes(ctx: CheckContext, check: str) -> list[ImageHashRow]:
    """The hashes that stand for this evidence: one for an image, one per keyframe for a video."""
    return ensure_video_hashes(ctx, check) if ctx.kind == "video" else [ensure_hash(ctx, check)]


def ensure_hash(ctx: CheckContext, check: str = "near_duplicates") -> ImageHashRow:
    """The stored hash of this image, computed and added to the session if missing."""
    kept = _session_cache(ctx.session).setdefault("rows", {})
    row = kept.get(ctx.evidence.sha256)
    if row is None and not ctx.just_stored:
        row = ctx.session.get(ImageHashRow, (ctx.evidence.sha256, METHOD))
    if row is not None:
        # Held here: the session's identity map holds a clean row weakly, and the next check of this
        # photo (first_seen after near_duplicates) read it again when it had been collected.
        kept[ctx.evidence.sha256] = row
        return row
    h = ctx.session.info.get(PRECOMPUTED_HASHES, {}).get(ctx.evidence.sha256)
    if h is None or h.method != METHOD:
        try:
            rgb = decode_image(ctx.data(), ctx.name)
        except Exception as exc:  # noqa: BLE001 - reported as this check's error, naming the file
            raise ctx.fail(check, f"cannot decode the image to hash it ({exc})") from exc
        h = hash_image(rgb)
    row = ImageHashRow(
        evidence_sha256=ctx.evidence.sha256, method=h.method, hash_hex=h.hash_hex, mirror_hex=h.mirror_hex
    )
    ctx.session.add(row)
    ctx.session.flush()
    _remember(ctx.session, row)
    kept[ctx.evidence.sha256] = row
    return row


@dataclass(frozen=True)
class Match:
    sha256: str
    distance: int
    mirrored: bool  # closer to the other image's mirror than to the image itself


_SESSION_HASHES = "imint.stored_image_hashes"


def _is_searched(method_column):  # noqa: ANN001, ANN202 - a SQL expression
    return (method_column == METHOD) | method_column.like(f"{METHOD}@%")


@dataclass
class _StoredHashes:
    """Image hashes and video keyframe hashes as arrays: the search's haystack."""

    shas: list[str]
    direct: np.ndarray
    mirror: np.ndarray
    last_rowid: int = 0  # SQLite: the highest rowid read (committed rows only)

    @classmethod
    def empty(cls) -> _StoredHashes:
        return cls([], np.zeros(0, np.uint64), np.zeros(0, np.uint64))

    def extended(self, rows: list[tuple[str, str, str]]) -> _StoredHashes:
        if not rows:  # a copy all the same: a session appends its own rows to it
            return _StoredHashes(list(self.shas), self.direct, self.mirror, self.last_rowid)
        return _StoredHashes(
            self.shas + [r[0] for r in rows],
            np.concatenate([self.direct, hex_to_uint64([r[1] for r in rows])]),
            np.concatenate([self.mirror, hex_to_uint64([r[2] for r in rows])]),
            self.last_rowid,
        )


# Committed hashes of each SQLite database this process opened, read once and then only the rows added
# since (by rowid, which SQLite hands out in commit order since it has one writer at a time; no code
# deletes image_hashes). Re-reading every row per ingest batch grew with the workspace: ~120 ms a batch
# and a count per search at 20,000 photos (docs/ingest-throughput.md).
_COMMITTED: dict[tuple[int, str], _StoredHashes] = {}
_COMMITTED_LOCK = threading.Lock()


def _hash_columns():  # noqa: ANN202 - a select of the three searched columns
    return select(ImageHashRow.evidence_sha256, ImageHashRow.hash_hex, ImageHashRow.mirror_hex).where(
        _is_searched(ImageHashRow.method)
    )


# The same reads as ``_hash_columns`` by rowid, written out for a plain sqlite3 connection (compiling the
# SQLAlchemy statement on every call cost ~2.6 ms, more than the reads).
_HASHES = ImageHashRow.__tablename__
_MAX_ROWID_SQL = f"SELECT max(rowid) FROM {_HASHES}"
_ROWS_AFTER_SQL = (
    f"SELECT evidence_sha256, hash_hex, mirror_hex, rowid FROM {_HASHES}"
    " WHERE (method = ? OR method LIKE ?) AND rowid > ? ORDER BY rowid"
)


def _committed_hashes(session: Session) -> _StoredHashes | None:
    """Every committed stored hash of a SQLite database, brought up to date from its own connection (which
    sees committed rows only, so a rolled-back batch leaves nothing behind); None for other databases."""
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    key = (id(engine), str(engine.url))
    with _COMMITTED_LOCK, _own_connection(engine) as conn:
        cached = _COMMITTED.get(key) or _StoredHashes.empty()
        top = conn.execute(_MAX_ROWID_SQL).fetchone()[0] or 0
        if top < cached.last_rowid:  # the file was replaced (a restore): read it all again
            cached = _StoredHashes.empty()
        if top > cached.last_rowid:
            rows = conn.execute(_ROWS_AFTER_SQL, (METHOD, f"{METHOD}@%", cached.last_rowid)).fetchall()
            cached = cached.extended([(r[0], r[1], r[2]) for r in rows])
            # The rows read, not ``top``: a commit between the two statements is then read next time.
            cached.last_rowid = max([cached.last_rowid] + [int(r[3]) for r in rows])
        _COMMITTED[key] = cached
        return cached


@contextlib.contextmanager
def _own_connection(engine) -> Iterator[sqlite3.Connection]:  # noqa: ANN001 - a SQLAlchemy Engine
    """A connection of its own to the database file, outside the engine's pool.

    Not from the pool: the caller's session already holds one of its connections (and, ingesting, SQLite's
    write lock); with every pooled connection held by a request waiting for that lock, asking the pool for
    a second one deadlocked the server until the pool's timeout (50 concurrent searches, 38 failed).
    In WAL mode a reader neither waits for the writer nor sees its uncommitted rows.
    """
    conn = sqlite3.connect(engine.url.database, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def _session_cache(session: Session) -> dict:
    """This session's view: ``own`` (rows it flushed, not committed), ``all`` (built on first search),
    ``matches`` (each search's answer, until the session adds a hash) and ``rows`` (the images' hash rows).

    All are dropped when the session commits (its rows are then read as committed ones) or rolls back,
    a savepoint included (its rows are gone), so a batch written again after a bad photo does not search
    rolled-back rows. A savepoint's release keeps them: its rows are still the transaction's (each check
    runs in a savepoint, and releasing one used to drop the view, so that the photo's next check built it
    again and a batch's later photos did not see its earlier ones).
    """
    cache = session.info.get(_SESSION_HASHES)
    if cache is None:
        cache = session.info[_SESSION_HASHES] = {}
        event.listen(session, "after_commit", _forget_unless_released)
        event.listen(session, "after_rollback", _forget)
    return cache


def _forget_unless_released(session: Session) -> None:
    # ``after_commit`` runs for a savepoint's release too, while that savepoint is still the session's
    # transaction; the outermost transaction's commit is the one that ends this view.
    if not session.in_nested_transaction():
        _forget(session)


def _forget(session: Session) -> None:
    session.info.get(_SESSION_HASHES, {}).clear()


def _stored_hashes(session: Session) -> _StoredHashes:
    """The stored hashes as this session sees them: built once per transaction (one ingest batch) from
    the committed ones plus the rows this session added itself (``_remember``), kept up to date after.

    Within one transaction no other writer's rows appear: SQLite lets one writer in at a time, and the
    ingest's session writes first. On other databases the session reads every row once.
    """
    cache = _session_cache(session)
    stored = cache.get("all")
    if stored is None:
        committed = _committed_hashes(session)
        if committed is None:
            rows = session.execute(_hash_columns()).all()
            stored = _StoredHashes.empty().extended([(r[0], r[1], r[2]) for r in rows])
        else:
            stored = committed.extended(cache.get("own", []))
        cache["all"] = stored
    return stored


def _remember(session: Session, row: ImageHashRow) -> None:
    """A hash row this session flushed: searched by the session's later look-ups (it is not committed)."""
    cache = _session_cache(session)
    entry = (row.evidence_sha256, row.hash_hex, row.mirror_hex)
    cache.setdefault("own", []).append(entry)
    cache.pop("matches", None)  # a new hash may be anyone's near-duplicate
    stored = cache.get("all")
    if stored is not None:  # the session's own copy (``extended`` copied the committed list)
        stored.shas.append(entry[0])
        stored.direct = np.append(stored.direct, hex_to_uint64([entry[1]]))
        stored.mirror = np.append(stored.mirror, hex_to_uint64([entry[2]]))


def find_near_duplicates(
    session: Session, query: ImageHashRow, max_distance: int = MAX_DISTANCE
) -> list[Match]:
    """Every other stored image within ``max_distance`` bits of ``query`` (as is or mirrored), nearest first."""
    return find_near_duplicates_of(session, [query], max_distance)


def find_near_duplicates_of(
    session: Session, queries: list[ImageHashRow], max_distance: int = MAX_DISTANCE
) -> list[Match]:
    """Every other stored image or video within ``max_distance`` bits of any of ``queries`` (one evidence's
    hashes: an image's, or a video's keyframes'), nearest first, one match per evidence."""
    if not queries:
        return []
    # The near-duplicate check, the first-seen check and the search's copy group all ask for one photo's
    # group in one transaction: scanned once.
    key = (max_distance, tuple((q.evidence_sha256, q.hash_hex) for q in queries))
    answers = _session_cache(session).setdefault("matches", {})
    if key not in answers:
        answers[key] = _scan(session, queries, max_distance)
    return list(answers[key])


def _scan(session: Session, queries: list[ImageHashRow], max_distance: int) -> list[Match]:
    own = queries[0].evidence_sha256
    stored = _stored_hashes(session)
    if not stored.shas:
        return []
    best_by_sha: dict[str, tuple[int, bool]] = {}
    for query in queries:
        direct = hamming(query.hash_hex, stored.direct)
        mirror = hamming(query.hash_hex, stored.mirror)
        best = np.minimum(direct, mirror)
        for i in np.flatnonzero(best <= max_distance):
            if stored.shas[i] == own:
                continue
            found = (int(best[i]), bool(mirror[i] < direct[i]))
            if stored.shas[i] not in best_by_sha or found[0] < best_by_sha[stored.shas[i]][0]:
                best_by_sha[stored.shas[i]] = found
    order = sorted(best_by_sha.items(), key=lambda kv: kv[1][0])  # stable: ties keep the stored order
    return [Match(sha, distance, mirrored) for sha, (distance, mirrored) in order]


def near_duplicates(ctx: CheckContext) -> CheckResult:
    """Find stored images (and videos' keyframes) that are perceptually the same picture (re-encoded,
    resized, mirrored)."""
    rows = query_hashes(ctx, "near_duplicates")
    row = rows[0]
    matches = find_near_duplicates_of(ctx.session, rows)
    details = {
        "hash": row.hash_hex,
        "mirror_hash": row.mirror_hex,
        "keyframes": [{"method": r.method, "hash": r.hash_hex} for r in rows] if ctx.kind == "video" else [],
        "bits": BITS,
        "max_distance": MAX_DISTANCE,
        "matches": [{"sha256": m.sha256, "distance": m.distance, "mirrored": m.mirrored} for m in matches],
    }
    if not matches:
        return CheckResult(
            "near_duplicates",
            "ok",
            f"No other image or video frame in this workspace looks like {'a frame of ' if ctx.kind == 'video' else ''}"
            "the same picture; images outside it are not searched.",
            score=0.0,
            details=details,
            method=METHOD_ID,
        )
    nearest = matches[0]
    return CheckResult(
        "near_duplicates",
        "flagged",
        f"{len(matches)} other image(s) in the workspace look like the same picture "
        f"(nearest {nearest.sha256[:12]} at {nearest.distance} of {BITS} bits"
        f"{', mirrored' if nearest.mirrored else ''}); a shared hash does not say which copy came first.",
        score=float(len(matches)),
        details=details,
        method=METHOD_ID,
    )


@dataclass(frozen=True)
class CopyRow:
    """What a copy group says of one stored copy: its evidence row's names and times, where its custody
    log starts, and (asked for by the first-seen check) the log's entries that say where it came from."""

    sha256: str
    name: str
    source: str
    ingested_at: str
    exif_capture: str | None
    first_custody_id: int
    sources: tuple[dict[str, str], ...] = ()


# Written once with an expanding parameter: built per call, an IN over a group's 25-50 hashes cost more
# than the queries (benchmarks/search_stages.py), and columns, not ORM objects, are all a group shows.
_SHAS = bindparam("shas", expanding=True)
_COPIES = select(
    EvidenceRow.sha256,
    EvidenceRow.original_name,
    EvidenceRow.source,
    EvidenceRow.added_at,
    # The whole document, not ``metadata ->> key``: PostgreSQL's json operators refuse a document holding
    # \u0000 (an EXIF field of a hostile file, tests/fuzz_crashers), while reading it as text works.
    EvidenceRow.metadata_,
    select(func.min(CustodyEntry.id))
    .where(CustodyEntry.evidence_sha256 == EvidenceRow.sha256)
    .scalar_subquery(),
).where(EvidenceRow.sha256.in_(_SHAS))
SOURCE_ACTIONS = ("added", "seen-again", "captured")  # the custody entries that say where a copy came from
_SOURCES = (
    select(
        CustodyEntry.evidence_sha256,
        CustodyEntry.action,
        CustodyEntry.actor,
        CustodyEntry.at,
        CustodyEntry.details,
    )
    .where(CustodyEntry.evidence_sha256.in_(_SHAS), CustodyEntry.action.in_(SOURCE_ACTIONS))
    .order_by(CustodyEntry.id)
)


def copy_rows(session: Session, shas: list[str], *, sources: bool = False) -> dict[str, CopyRow]:
    """The stored copies among ``shas`` (a few queries, not three per copy: a picture with many copies in
    the workspace is looked at at every ingest and search of one more), with their sources if asked."""
    found: dict[str, CopyRow] = {}
    for start in range(0, len(shas), 500):
        chunk = {"shas": shas[start : start + 500]}
        entries: dict[str, list[dict[str, str]]] = {}
        if sources:
            for sha, action, actor, at, details in session.execute(_SOURCES, chunk):
                entries.setdefault(sha, []).append(_custody_source(action, actor, at, details))
        for sha, name, source, added_at, metadata, first_id in session.execute(_COPIES, chunk):
            exif = (metadata or {}).get("exif_DateTimeOriginal")
            found[sha] = CopyRow(
                sha,
                name,
                source,
                added_at,
                str(exif) if exif else None,
                first_id or 0,
                tuple(entries.get(sha, ())),
            )
    return found


def _custody_source(action: str, actor: str, at: str, details: dict | None) -> dict[str, str]:
    d = details or {}
    rec = {"action": action, "at": at, "by": actor}
    for key in ("source", "from", "name", "capture_url", "capture_time", "archive_sha256"):
        if d.get(key):
            rec[key] = str(d[key])
    return rec


def first_seen(ctx: CheckContext) -> CheckResult:
    """For this picture and its near-duplicates: earliest EXIF capture time, ingest time and every source."""
    rows = query_hashes(ctx, "first_seen")
    members = [(ctx.evidence.sha256, 0)] + [
        (m.sha256, m.distance) for m in find_near_duplicates_of(ctx.session, rows)
    ]
    stored = copy_rows(ctx.session, [sha for sha, _distance in members], sources=True)
    copies = []
    for sha, distance in members:
        copy = stored.get(sha)
        if copy is None:
            continue
        copies.append(
            {
                "sha256": sha,
                "distance": distance,
                "name": copy.name,
                "exif_capture": copy.exif_capture,
                "ingested_at": copy.ingested_at,
                "sources": list(copy.sources),
                "first_custody_id": copy.first_custody_id,
            }
        )
    exif_times = sorted(c["exif_capture"] for c in copies if c["exif_capture"])
    # Ingest times have whole seconds; the custody log's order breaks ties.
    earliest_ingest = min(copies, key=lambda c: (c["ingested_at"], c["first_custody_id"]))
    details = {
        "copies": copies,
        "earliest_exif_capture": exif_times[0] if exif_times else None,
        "earliest_ingest": {"sha256": earliest_ingest["sha256"], "at": earliest_ingest["ingested_at"]},
    }
    exif_part = (
        f"earliest EXIF capture time {exif_times[0]} (camera clock, local, unverified)"
        if exif_times
        else "no copy has an EXIF capture time"
    )
    n_sources = sum(len(c["sources"]) for c in copies)
    summary = (
        f"{len(copies)} copy(ies) of this picture in the workspace, first ingested {earliest_ingest['ingested_at']} "
        f"({earliest_ingest['sha256'][:12]}), {exif_part}, {n_sources} recorded source(s); "
        "this is when this workspace saw it, not when the picture was made or first published."
    )
    return CheckResult(
        "first_seen", "ok", summary, score=float(len(copies)), details=details, method=METHOD_ID
    )
