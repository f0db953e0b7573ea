"""Video tables: scans with their processed segments, face tracks, their detections, appearances.

A scan is one analysis of one video (evidence) with one face model at one sampling
rate. It advances segment by segment; each segment is committed with the tracks it
touched, so a killed run resumes after the last committed segment. Tracks still
open at a segment boundary keep their tracker state here (last box, velocity,
template), which is what lets the resumed run continue them instead of starting
new ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imint.store.db import Base, utcnow


class VideoScan(Base):
    __tablename__ = "video_scans"
    __table_args__ = (UniqueConstraint("evidence_sha256", "model_id", "sample_fps"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    model_id: Mapped[str] = mapped_column(String(128))
    sample_fps: Mapped[float] = mapped_column(Float)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, complete, partial
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # why a partial scan stopped
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # declared duration, seconds
    processed_until: Mapped[float] = mapped_column(Float, default=0.0)  # seconds, end of last segment
    frames_sampled: Mapped[int] = mapped_column(Integer, default=0)
    next_track_no: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    updated_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class VideoSegment(Base):
    """A stretch of video already analysed: a resumed run does not redo it."""

    __tablename__ = "video_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("video_scans.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)  # sampled frames analysed
    faces: Mapped[int] = mapped_column(Integer)  # face detections in them
    embedded: Mapped[int] = mapped_column(Integer)  # faces embedded in them
    seconds: Mapped[float] = mapped_column(Float)  # processing time
    processed_at: Mapped[str] = mapped_column(String(32), default=utcnow)


class VideoTrack(Base):
    """One face followed across sampled frames: an appearance of one (unknown) person."""

    __tablename__ = "video_tracks"
    __table_args__ = (UniqueConstraint("scan_id", "track_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("video_scans.id", ondelete="CASCADE"), index=True)
    track_no: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the scan
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, closed, dropped (too short)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    n_frames: Mapped[int] = mapped_column(Integer, default=0)
    # Tracker state, so a resumed run continues open tracks.
    last_box: Mapped[list[float]] = mapped_column(JSON)
    velocity: Mapped[list[float]] = mapped_column(JSON)  # box corners, pixels per second
    template_sum: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sum of q * embedding
    template_weight: Mapped[float] = mapped_column(Float, default=0.0)
    n_embedded: Mapped[int] = mapped_column(Integer, default=0)
    last_embed_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Best shot: the embedded face of highest quality (else the best face at all).
    best_face_id: Mapped[int | None] = mapped_column(
        ForeignKey("faces.id", ondelete="SET NULL"), nullable=True
    )
    best_frame_time: Mapped[float] = mapped_column(Float)
    best_quality: Mapped[float] = mapped_column(Float)
    best_reason: Mapped[str] = mapped_column(String(128))
    best_box: Mapped[list[float]] = mapped_column(JSON)
    best_embedded: Mapped[bool] = mapped_column(default=False)
    best_crop: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # JPEG, for contact sheets
    # Result of the latest track-level search and clustering.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), nullable=True
    )
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    fmr: Mapped[float | None] = mapped_column(Float, nullable=True)
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), nullable=True
    )


class VideoDetection(Base):
    """A track's face in one sampled frame (the frame timestamps of the track)."""

    __tablename__ = "video_detections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("video_tracks.id", ondelete="CASCADE"), index=True)
    frame_time: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    det_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    face_id: Mapped[int | None] = mapped_column(
        ForeignKey("faces.id", ondelete="SET NULL"), nullable=True
    )  # set when this face was embedded and stored as a face record


class VideoAppearance(Base):
    """A span of a video where one person (or one unknown cluster) is visible, per search."""

    __tablename__ = "video_appearances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("video_scans.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), nullable=True
    )
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), nullable=True
    )
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    fmr: Mapped[float | None] = mapped_column(Float, nullable=True)
    best_frame_time: Mapped[float] = mapped_column(Float)
    track_ids: Mapped[list[int]] = mapped_column(JSON)
    operating_point: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
