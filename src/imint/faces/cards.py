"""Report cards for the faces part's records: a face candidate (``match:ID``) and a face (``face:ID``).

Registered through ``FacesPart.cards()``. A candidate's card keeps apart what face search proposed
(score, calibrated false-match rate, operating point) and what a person decided about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

from imint.errors import ImintError
from imint.faces.tables import FaceRow, Match, Person
from imint.records import Evidence
from imint.report import figures
from imint.report.cards import Card, Link

if TYPE_CHECKING:
    from imint.workspace import Workspace


def fmr_in_words(fmr: float | None) -> str:
    """A false-match rate for the report's readers: '1.0e-04 (about 1 in 10,000)'."""
    if fmr is None:
        return "n/a"
    if fmr <= 0:
        return "below the calibration's resolution"
    return f"{fmr:.1e} (about 1 in {round(1 / fmr):,})" if fmr < 0.5 else f"{fmr:.2f}"


def _face_row(ws: Workspace, face_id: int) -> FaceRow | None:
    with ws.session() as s:
        face = s.get(FaceRow, face_id)
        if face is not None:
            s.expunge(face)
        return face


def _match_rows(ws: Workspace, match_id: int) -> tuple[Match | None, FaceRow | None, Person | None]:
    with ws.session() as s:
        match = s.get(Match, match_id)
        face = s.get(FaceRow, match.face_id) if match else None
        person = s.get(Person, match.person_id) if match else None
        for row in (match, face, person):
            if row is not None:
                s.expunge(row)
    return match, face, person


def _face_crop(ws: Workspace, evidence: Evidence, face: FaceRow) -> str | None:
    if evidence.kind != "image":
        return None
    try:
        img = Image.fromarray(ws.read_image(evidence))
    except ImintError:
        return None
    return figures.image_uri(figures.crop_with_box(img, (face.x1, face.y1, face.x2, face.y2)), max_px=360)


def _decision(match: Match, name: str) -> str:
    if match.status == "confirmed":
        return f"Confirmed as {name} by {match.decided_by} on {match.decided_at}. {match.note}".strip()
    if match.status == "rejected":
        return f"Rejected by {match.decided_by} on {match.decided_at}. {match.note}".strip()
    return "Not reviewed by a person: a candidate only, not an identification."


def candidate_card(ws: Workspace, link: Link, evidence: Evidence) -> Card:
    """``match:ID``: the face, the candidate identity with its false-match rate, and the review."""
    match, face, person = _match_rows(ws, link.record_id)
    card = Card(title=f"Face candidate on {evidence.original_name}", sha256=evidence.sha256)
    if match is None or face is None:
        card.machine.append(f"match {link.record_id} no longer exists")
        return card
    card.image = _face_crop(ws, evidence, face)
    name = person.name if person else f"person {match.person_id}"
    card.facts = [
        ("candidate", name),
        ("similarity score", f"{match.score:.3f}"),
        ("false-match rate", fmr_in_words(match.fmr)),
        ("rank", str(match.rank)),
        ("operating point", match.operating_point),
        ("face quality", f"{face.quality:.2f} ({face.quality_reason})"),
        ("file", evidence.original_name),
        ("SHA-256", evidence.sha256),
    ]
    card.machine.append(
        f"Face search proposes {name} as rank-{match.rank} candidate, score {match.score:.3f}, "
        f"calibrated false-match rate {fmr_in_words(match.fmr)} at operating point {match.operating_point}."
    )
    card.person.append(_decision(match, name))
    card.method.append(f"Face model {face.model_id}; candidates at operating point {match.operating_point}")
    return card


def face_card(ws: Workspace, link: Link, evidence: Evidence) -> Card:
    """``face:ID``: a detected face, with no identity implied."""
    face = _face_row(ws, link.record_id)
    card = Card(title=f"Face on {evidence.original_name}", sha256=evidence.sha256)
    if face is None:
        card.machine.append(f"face {link.record_id} no longer exists")
        return card
    card.image = _face_crop(ws, evidence, face)
    card.facts = [
        ("detector score", f"{face.det_score:.2f}"),
        ("quality", f"{face.quality:.2f} ({face.quality_reason})"),
        ("SHA-256", evidence.sha256),
    ]
    card.machine.append(f"Face detected (score {face.det_score:.2f}); no identity implied.")
    card.method.append(f"Face model {face.model_id}")
    return card


# ``match`` is the name links made before candidates were called so everywhere.
RENDERERS = {"candidate": candidate_card, "match": candidate_card, "face": face_card}
