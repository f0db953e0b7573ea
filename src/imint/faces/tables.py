"""The faces part's tables: persons, watchlists, reference photos, faces, candidates, clusters.

The ``matches`` table holds candidates (a face's possible identity until a person decides);
its rows are read as ``imint.records.Candidate``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from imint.store.db import Base, utcnow


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    listing_source: Mapped[str] = mapped_column(Text, default="")  # who asked for the listing
    listing_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")

    references: Mapped[list[ReferencePhoto]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )

    def to_dict(self) -> dict[str, Any]:
        """The person's own fields, as the CLI's JSON and the API show them."""
        return {
            "id": self.id,
            "name": self.name,
            "aliases": self.aliases,
            "notes": self.notes,
            "listing_source": self.listing_source,
            "listing_reason": self.listing_reason,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


class Watchlist(Base):
    __tablename__ = "watchlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class WatchlistMember(Base):
    __tablename__ = "watchlist_members"

    watchlist_id: Mapped[int] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)


class FaceRow(Base):
    """A face found in an evidence file (a photo, or a video frame at ``frame_time``)."""

    __tablename__ = "faces"
    __table_args__ = (Index("ix_faces_evidence_model", "evidence_sha256", "model_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"))
    frame_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    det_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    quality_reason: Mapped[str] = mapped_column(String(128))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float32, L2-normalised
    model_id: Mapped[str] = mapped_column(String(128))
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class ReferencePhoto(Base):
    """A face that enrolls a person: the gallery of 1:N search."""

    __tablename__ = "reference_photos"
    __table_args__ = (UniqueConstraint("person_id", "face_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"))
    added_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128), default="")

    person: Mapped[Person] = relationship(back_populates="references")


class FaceScan(Base):
    """An evidence file already searched with a model: a re-run skips it (by hash)."""

    __tablename__ = "face_scans"

    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    n_faces: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class Match(Base):
    """A candidate identity for a face; confirmed or rejected only by a person."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("face_id", "person_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    fmr: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)
    operating_point: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate, confirmed, rejected
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class Cluster(Base):
    """A group of unknown faces. Manual edits are kept as constraints (below)."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class ClusterConstraint(Base):
    """A person's decision that two faces are (must_link) or are not (cannot_link) one person.

    Re-clustering honours these, which is how merge and split survive it.
    """

    __tablename__ = "cluster_constraints"
    __table_args__ = (UniqueConstraint("face_a", "face_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    face_a: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"))
    face_b: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # must_link, cannot_link
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
