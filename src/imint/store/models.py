"""Core tables: evidence and its custody log.

Each part owns its tables in its own package (``imint/faces/tables.py``,
``imint/sites/tables.py``...) on the same Base, and names them in its ``Part``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imint.store.db import Base, utcnow


class EvidenceRow(Base):
    """A file in the content-addressed object store (``objects/ab/cd/<sha256>``)."""

    __tablename__ = "evidence"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # image, video, raster, document
    media_type: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(Text)
    # 64-bit on PostgreSQL (videos pass 2 GiB); SQLite's INTEGER is 64-bit already.
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    added_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(Text, default="")  # URL or a note on where it came from


class CustodyEntry(Base):
    """Append-only chain of custody: SQLite triggers refuse UPDATE and DELETE."""

    __tablename__ = "custody_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    action: Mapped[str] = mapped_column(String(32))  # added, seen-again, viewed, exported, linked, verified
    actor: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[str] = mapped_column(String(32), default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
