"""Report cards: one piece of evidence, or a record made from it, as the report shows it.

Parts render the records they own (``Part.cards()``: record type -> renderer); evidence linked
without a record gets :func:`evidence_card`. This module knows no part: a renderer receives the
claim's link as a :class:`Link` (what every link has) and the evidence it points at.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from imint.errors import ImintError
from imint.records import Evidence
from imint.report import figures

if TYPE_CHECKING:
    from imint.workspace import Workspace


class Link(Protocol):
    """What a renderer may read of a claim's link (``imint.cases.LinkInfo`` is one)."""

    @property
    def evidence_sha256(self) -> str: ...
    @property
    def record_type(self) -> str: ...  # "" for evidence linked without a record
    @property
    def record_id(self) -> int: ...


@dataclass
class Card:
    """One piece of evidence (or a record made from it) as shown under a claim."""

    title: str
    sha256: str
    image: str | None = None  # data URI
    caption: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    machine: list[str] = field(default_factory=list)  # what an algorithm found
    person: list[str] = field(default_factory=list)  # what a person decided
    method: list[str] = field(default_factory=list)  # models / operating points behind ``machine``
    extra_images: list[tuple[str, str]] = field(default_factory=list)  # (data URI, caption): charts
    simulated: bool = False
    relation: str = ""
    note: str = ""
    linked_by: str = ""


CardRenderer = Callable[["Workspace", Link, Evidence], Card]


def is_simulated(evidence: Evidence) -> bool:
    """Simulated material says so in its name, source note or raster tags; we never drop that label."""
    text = " ".join(
        [evidence.original_name, evidence.source, json.dumps(evidence.metadata.get("tags", {}), default=str)]
    )
    return "simulated" in text.lower()


def _human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def evidence_facts(evidence: Evidence) -> list[tuple[str, str]]:
    """What the file itself says: name, kind, size, pixels, EXIF, GPS, raster tags, source, hash."""
    meta = evidence.metadata
    facts = [
        ("file", evidence.original_name),
        ("kind", evidence.kind),
        ("size", _human_size(evidence.size_bytes)),
    ]
    if meta.get("width"):
        facts.append(("pixels", f"{meta['width']} × {meta['height']}"))
    for key, label in (("exif_DateTimeOriginal", "captured (EXIF)"), ("exif_Model", "camera")):
        if meta.get(key):
            facts.append((label, str(meta[key])))
    if "gps_lat" in meta:
        facts.append(("GPS", f"{meta['gps_lat']:.5f}, {meta['gps_lon']:.5f}"))
    if meta.get("crs"):
        facts.append(("CRS", str(meta["crs"])))
    for key, value in (meta.get("tags") or {}).items():
        if key.lower() in ("acquisition_time", "acquired", "datetime", "sensor", "mode", "simulated", "site"):
            facts.append((key.lower(), str(value)))
    if evidence.source:
        facts.append(("source", evidence.source))
    facts.append(("SHA-256", evidence.sha256))
    return facts


def evidence_thumbnail(ws: Workspace, evidence: Evidence) -> str | None:
    """A photo or raster as a small inlined picture; None for other kinds or a file that will not draw."""
    try:
        if evidence.kind == "image":
            return figures.image_uri(Image.fromarray(ws.read_image(evidence)))
        if evidence.kind == "raster":
            return figures.image_uri(figures.raster_quicklook(evidence.stored_path), fmt="PNG")
    except ImintError:
        return None
    except Exception:  # noqa: BLE001 - a thumbnail that cannot be drawn must not stop the report
        return None
    return None


def evidence_card(ws: Workspace, link: Link, evidence: Evidence) -> Card:
    """The card of evidence linked as a whole file (and of a record whose renderer failed)."""
    return Card(
        title=evidence.original_name,
        sha256=evidence.sha256,
        image=evidence_thumbnail(ws, evidence),
        facts=evidence_facts(evidence),
    )
