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
