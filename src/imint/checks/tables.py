"""Tables of the checks part: one result per evidence per check, and the perceptual hash of every image.

Results are replaced whole when an evidence is checked again (see ``imint.checks.runner``); the custody log,
not this table, keeps the history of who ran what.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imint.store.db import Base, utcnow


class CheckResultRow(Base):
    """What one check said about one evidence file."""

    __tablename__ = "check_results"
    __table_args__ = (UniqueConstraint("evidence_sha256", "check", name="uq_check_result"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    check: Mapped[str] = mapped_column(String(32))  # ela, noise, jpeg, copy_move, metadata, c2pa, ...
    status: Mapped[str] = mapped_column(String(16))  # ok, flagged, error, absent
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")  # one plain sentence
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact: Mapped[str | None] = mapped_column(Text, nullable=True)  # heat map, relative to the workspace
    method: Mapped[str] = mapped_column(String(128), default="")  # method / model id and its parameters
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class ImageHashRow(Base):
    """Perceptual hashes of one image, as stored and of its mirror image, for near-duplicate search."""

    __tablename__ = "image_hashes"

    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. "phash-64"
    hash_hex: Mapped[str] = mapped_column(String(64))
    mirror_hex: Mapped[str] = mapped_column(String(64))  # hash of the left-right mirrored image
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class ShadowMarkingRow(Base):
    """A person's marking of an object and its shadow on a photo, and the sun times it allows.

    Kept apart from ``check_results``: this is an analyst's input (which pixels are the object's base,
    top and shadow tip), not a machine finding; the window is computed from it and stored beside it.
    """

    __tablename__ = "shadow_markings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    # Pixel points on the stored picture (x right, y down): the object's base and top, the shadow's tip.
    # Two separate lines are kept as given: object base -> top, shadow base -> tip.
    object_line: Mapped[list[float]] = mapped_column(JSON)  # [x1, y1, x2, y2]: base, top
    shadow_line: Mapped[list[float]] = mapped_column(JSON)  # [x1, y1, x2, y2]: base, tip
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    place_basis: Mapped[str] = mapped_column(String(64), default="")  # "EXIF GPS" or "given"
    claimed_utc: Mapped[str] = mapped_column(String(40))
    time_basis: Mapped[str] = mapped_column(String(64), default="")  # "EXIF capture time" or "given"
    tolerance: Mapped[float] = mapped_column(Float, default=0.15)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # ShadowWindow.to_dict()
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
