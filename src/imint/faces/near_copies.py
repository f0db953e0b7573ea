"""Near-copies of a photo (resized, re-encoded, mirrored, cropped a little): one group, one "first seen".

The hash is the one the checks part stores for every image at ingest (``image_hashes``, pHash of the
image and of its mirror, ``imint.checks.duplicates``); nothing is hashed again here. A group is every
stored image within the checks part's ``MAX_DISTANCE`` bits of the photo (as is or mirrored), and its
"first seen" is the copy ingested first (custody order breaks ties of the whole-second times), with the
earliest EXIF capture time of any copy beside it.

Each copy keeps its own face analysis: a copy's boxes cannot be derived soundly from the original's,
since the hash does not say how the copy was cropped or scaled (a 5 % crop is within the distance),
and a smaller or recompressed copy's face has its own quality, which sets its calibrated FMR (measured
in docs/near-copies.md). "Analysed once" therefore means one *picture* in the results: ``group_appearances``
ranks the copies of one picture as one appearance (its strongest copy) with every other copy's face
listed under it, and the group's "first seen" line beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from imint.workspace import Workspace


def near_copy_group(session: Session, sha256: str) -> dict[str, Any] | None:
    """The photo's group: ``{"copies": [...], "first_seen": {...}}`` (itself included), or None
    when no other stored image is a near-copy of it (or it has no stored hash)."""
    from imint.checks.duplicates import copy_rows, find_near_duplicates
    from imint.checks.tables import ImageHashRow
    from imint.media.phash import METHOD

    row = session.get(ImageHashRow, (sha256, METHOD))
    if row is None:
        return None
    matches = find_near_duplicates(session, row)
    if not matches:
        return None
    members = [(sha256, 0, False)] + [(m.sha256, m.distance, m.mirrored) for m in matches]
    stored = copy_rows(session, [sha for sha, _distance, _mirrored in members])
    copies = []
    for sha, distance, mirrored in members:
        copy = stored.get(sha)
        if copy is None:
            continue
        copies.append(
            {
                "sha256": sha,
                "distance": distance,
                "mirrored": mirrored,
                "name": copy.name,
                "source": copy.source or copy.name,
                "ingested_at": copy.ingested_at,
                "exif_capture": copy.exif_capture,
                "_order": (copy.ingested_at, copy.first_custody_id),
            }
        )
    first = min(copies, key=lambda c: c["_order"])
    exif = sorted(c["exif_capture"] for c in copies if c["exif_capture"])
    for c in copies:
        del c["_order"]
    return {
        "copies": copies,
        "first_seen": {
            "sha256": first["sha256"],
            "source": first["source"],
            "ingested_at": first["ingested_at"],
            "earliest_exif_capture": exif[0] if exif else None,
        },
    }


def with_near_copies(ws: Workspace, appearances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``near_copies`` (the group, or None) to each appearance dict that has a ``sha256``
    (``find`` and ``search`` results), one look-up per distinct photo."""
    groups: dict[str, dict[str, Any] | None] = {}
    with ws.session() as s:
        for a in appearances:
            sha = a.get("sha256")
            if sha and sha not in groups:
                groups[sha] = near_copy_group(s, sha)
            a["near_copies"] = groups.get(sha) if sha else None
    return appearances


def group_appearances(ws: Workspace, appearances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of one picture as one appearance: ``appearances`` (strongest first, each with a ``sha256``)
    with their near-copy groups added (``with_near_copies``), where an appearance in a near-copy of a
    photo already ranked is moved under that one's ``copies`` (strongest first) instead of being ranked
    again. Each copy gives at most one face to a ranked appearance, so two faces of the person in one
    picture stay two appearances (each may take one face from every copy)."""
    ranked: list[dict[str, Any]] = []
    # sha256 of a copy -> the ranked appearances whose group holds it
    holders: dict[str, list[dict[str, Any]]] = {}
    for a in with_near_copies(ws, appearances):
        a["copies"] = []
        sha, group = a.get("sha256"), a.get("near_copies")
        holder = next(
            (
                h
                for h in holders.get(sha, [])
                if h["sha256"] != sha and all(c["sha256"] != sha for c in h["copies"])
            ),
            None,
        )
        if holder is not None:
            copy = {k: v for k, v in a.items() if k not in ("near_copies", "copies")}
            holder["copies"].append(copy)
            continue
        if group is not None:
            for member in group["copies"]:
                holders.setdefault(member["sha256"], []).append(a)
        ranked.append(a)
    return ranked


def mark_searched_copies(session: Session, results: list[Any]) -> None:
    """For ``search``: each searched photo's ``near_copies`` group, and ``copy_of`` (the path of the
    earlier searched photo of the same picture, or None), so copies among the searched files count once."""
    first_of: dict[str, str] = {}
    for r in results:
        if r.evidence is None:
            continue
        r.near_copies = near_copy_group(session, r.evidence.sha256)
        r.copy_of = first_of.get(r.evidence.sha256)
        if r.copy_of is None and r.near_copies is not None:
            for member in r.near_copies["copies"]:
                first_of.setdefault(member["sha256"], r.path)


def first_seen_label(group: dict[str, Any] | None) -> str:
    """The "first seen" line of a near-copy group for tables: the first copy's source and ingest time,
    the earliest EXIF capture time of any copy, and how many copies; empty without a group."""
    if not group:
        return ""
    first = group["first_seen"]
    text = f"{len(group['copies'])} copies; first seen {Path(first['source']).name} at {first['ingested_at']}"
    if first.get("earliest_exif_capture"):
        text += f"; captured {first['earliest_exif_capture']}"
    return text
