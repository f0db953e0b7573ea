"""Case tables: cases, the evidence they hold, graded claims, their places and links.

A claim's Admiralty grading keeps its two halves apart (source reliability A–F,
information credibility 1–6), as MISP and OpenCTI do: "B3" is a display, never a
stored string. Figures are ranges with a unit; dates are ranges of ISO days.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from imint.store.db import Base, utcnow


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)  # short handle used on the command line
    title: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")

    claims: Mapped[list[ClaimRow]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="ClaimRow.id"
    )


class CaseEvidence(Base):
    """Evidence gathered for a case, linked to a claim or not (yet)."""

    __tablename__ = "case_evidence"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), primary_key=True)
    note: Mapped[str] = mapped_column(Text, default="")
    added_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128), default="")


class ClaimRow(Base):
    """One statement by one source, graded, with its figure, dates and places."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # Who said it, where and when it was published.
    source: Mapped[str] = mapped_column(Text, default="")  # organisation or person
    source_type: Mapped[str] = mapped_column(String(64), default="")  # government, official, news agency...
    publication: Mapped[str] = mapped_column(Text, default="")  # statement, article, URL
    published_on: Mapped[str | None] = mapped_column(String(10), nullable=True)  # YYYY-MM-DD
    # Admiralty code, two independent halves.
    reliability: Mapped[str | None] = mapped_column(String(1), nullable=True)  # A-F: the source
    credibility: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1-6: this information
    grading_note: Mapped[str] = mapped_column(Text, default="")
    graded_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    graded_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The figure, as a range with a unit; claims about the same quantity share ``quantity``.
    quantity: Mapped[str] = mapped_column(String(256), default="")
    value_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    value_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    unit: Mapped[str] = mapped_column(String(64), default="")
    # When the claimed events happened (inclusive ISO days).
    date_from: Mapped[str | None] = mapped_column(String(10), nullable=True)
    date_to: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # claimed, unconfirmed, corroborated, contradicted, confirmed: set by a person only.
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    status_note: Mapped[str] = mapped_column(Text, default="")
    status_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")

    case: Mapped[Case] = relationship(back_populates="claims")
    places: Mapped[list[ClaimPlace]] = relationship(
        back_populates="claim", cascade="all, delete-orphan", order_by="ClaimPlace.id"
    )
    links: Mapped[list[ClaimLink]] = relationship(
        back_populates="claim", cascade="all, delete-orphan", order_by="ClaimLink.id"
    )


class ClaimPlace(Base):
    """A place a claim names, resolved with the offline gazetteer (or given as coordinates)."""

    __tablename__ = "claim_places"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)  # as written in the claim
    resolved_name: Mapped[str] = mapped_column(Text, default="")
    country_code: Mapped[str] = mapped_column(String(2), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    geonameid: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: coordinates given by hand
    role: Mapped[str] = mapped_column(String(64), default="")  # e.g. "destination", "training base"

    claim: Mapped[ClaimRow] = relationship(back_populates="places")


class ClaimLink(Base):
    """Evidence (or a record made from it) that supports, contradicts or gives context to a claim.

    ``record_type``/``record_id`` point at an analyzer's record (a face match, a
    ship detection, a site change...) when the link is that specific; the evidence
    hash is always kept so the custody log and the report can follow it.
    """

    __tablename__ = "claim_links"
    __table_args__ = (
        UniqueConstraint("claim_id", "evidence_sha256", "record_type", "record_id", name="uq_claim_link"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    record_type: Mapped[str] = mapped_column(String(32), default="")  # "" = the evidence file itself
    record_id: Mapped[int] = mapped_column(Integer, default=0)
    relation: Mapped[str] = mapped_column(String(16))  # supports, contradicts, context
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")

    claim: Mapped[ClaimRow] = relationship(back_populates="links")
