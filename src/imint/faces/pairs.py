"""A candidate shown as the review needs it: the probe face beside the person's closest reference
face, the same size, with both qualities, the score and the calibrated FMR."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw
from sqlalchemy import select

from imint.errors import NotFoundError
from imint.faces.analysis import embedding_of
from imint.faces.crops import face_crop_jpeg
from imint.faces.tables import FaceRow, Match, Person, ReferencePhoto

if TYPE_CHECKING:
    from imint.workspace import Workspace

TILE = 200  # pixels per face, both faces alike
BAND = 36  # text lines under each face and under the pair


def _tile(jpeg: bytes) -> Image.Image:
    face = Image.open(io.BytesIO(jpeg)).convert("RGB")
    scale = TILE / max(face.size)
    face = face.resize((max(1, round(face.width * scale)), max(1, round(face.height * scale))))
    tile = Image.new("RGB", (TILE, TILE), (40, 40, 40))
    tile.paste(face, ((TILE - face.width) // 2, (TILE - face.height) // 2))
    return tile


def candidate_pair(ws: Workspace, candidate_id: int) -> dict:
    """The candidate's probe face and the reference face of its person that scores highest against it."""
    with ws.session() as s:
        m = s.get(Match, candidate_id)
        if m is None:
            raise NotFoundError("no such candidate", subject=f"candidate {candidate_id}")
        probe = s.get(FaceRow, m.face_id)
        person = s.get(Person, m.person_id)
        refs = s.scalars(
            select(FaceRow)
            .join(ReferencePhoto, ReferencePhoto.face_id == FaceRow.id)
            .where(ReferencePhoto.person_id == m.person_id, FaceRow.model_id == probe.model_id)
        ).all()
        if not refs:
            raise NotFoundError("the person has no reference face", subject=person.name)
        v = embedding_of(probe)
        best = max(refs, key=lambda r: float(embedding_of(r) @ v) if v.size else 0.0)
        return {
            "probe_face_id": probe.id,
            "probe_quality": probe.quality,
            "probe_reason": probe.quality_reason,
            "reference_face_id": best.id,
            "reference_quality": best.quality,
            "reference_reason": best.quality_reason,
            "person": person.name,
            "score": m.score,
            "fmr": m.fmr,
            "status": m.status,
        }


def candidate_pair_jpeg(ws: Workspace, candidate_id: int) -> bytes:
    """The side-by-side composite of a candidate (JPEG bytes)."""
    pair = candidate_pair(ws, candidate_id)
    gap = 8
    canvas = Image.new("RGB", (2 * TILE + gap, TILE + 2 * BAND), (255, 255, 255))
    canvas.paste(_tile(face_crop_jpeg(ws, pair["probe_face_id"])), (0, 0))
    canvas.paste(_tile(face_crop_jpeg(ws, pair["reference_face_id"])), (TILE + gap, 0))
    draw = ImageDraw.Draw(canvas)
    ink = (20, 20, 20)
    draw.text((4, TILE + 4), f"probe face {pair['probe_face_id']}", fill=ink)
    draw.text((4, TILE + 18), f"quality {pair['probe_quality']:.2f} ({pair['probe_reason']})", fill=ink)
    x = TILE + gap + 4
    draw.text((x, TILE + 4), f"reference of {pair['person'][:22]}", fill=ink)
    draw.text(
        (x, TILE + 18), f"quality {pair['reference_quality']:.2f} ({pair['reference_reason']})", fill=ink
    )
    draw.text(
        (4, TILE + BAND + 10),
        f"score {pair['score']:.3f}   FMR {pair['fmr']:.1e}   {pair['status']}",
        fill=ink,
    )
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=90)
    return buf.getvalue()


__all__ = ["candidate_pair", "candidate_pair_jpeg"]
