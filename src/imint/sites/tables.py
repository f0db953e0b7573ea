"""Tables of the sites part: watched areas, the scenes of each area, ship detections, areas of interest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from imint.store.db import Base, utcnow


class SiteRow(Base):
    """A named area of interest: a polygon, or a point with a radius (stored as its polygon too)."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)  # GeoJSON Polygon, EPSG:4326
    center_lon: Mapped[float] = mapped_column(Float)
    center_lat: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    place: Mapped[str] = mapped_column(Text, default="")  # gazetteer name it was looked up from
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class SceneRow(Base):
    """An image of a site on a date: a georeferenced raster, or a chip in pixel mode."""

    __tablename__ = "scenes"
    __table_args__ = (UniqueConstraint("evidence_sha256", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    date: Mapped[str | None] = mapped_column(String(32), nullable=True)  # UTC ISO 8601 date or time
    modality: Mapped[str] = mapped_column(String(16))  # SAR, optical
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bands: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(16))
    crs: Mapped[str | None] = mapped_column(Text, nullable=True)
    transform: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)  # affine a, b, c, d, e, f
    pixel_size_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    georeferenced: Mapped[bool] = mapped_column(Boolean, default=False)
    footprint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # GeoJSON, EPSG:4326
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    added_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    added_by: Mapped[str] = mapped_column(String(128), default="")


class ShipDetectionRow(Base):
    """One object found in a scene by one detector run (a re-run replaces that detector's rows)."""

    __tablename__ = "ship_detections"
    __table_args__ = (Index("ix_ship_detections_scene_detector", "scene_id", "detector_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id", ondelete="CASCADE"))
    evidence_sha256: Mapped[str] = mapped_column(ForeignKey("evidence.sha256"))
    detector_id: Mapped[str] = mapped_column(String(128))
    class_name: Mapped[str] = mapped_column(String(64), default="ship")
    score: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    length_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # GeoJSON, EPSG:4326
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class AreaRow(Base):
    """An area of interest inside a site (a depot, a quay): activity is measured per area over dates."""

    __tablename__ = "site_areas"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)  # GeoJSON Polygon / MultiPolygon, EPSG:4326
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[str] = mapped_column(String(32), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
