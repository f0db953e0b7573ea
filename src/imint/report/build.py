"""Build a case report: one self-contained HTML file (images inlined) and its PDF.

The report tells apart, everywhere, what the machine found (a face candidate at a
false-match rate, a detected ship, a proposed status) and what a person decided
(a confirmed match, a grading, a claim's status). Building it re-hashes the
case's evidence (``verified`` in custody) and records the export (``exported``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from PIL import Image

from imint import __version__
from imint.cases import evidence as evidence_mod
from imint.cases.gazetteer import SOURCE as GAZETTEER_SOURCE
from imint.cases.grading import CREDIBILITY, RELIABILITY, admiralty_meaning
from imint.cases.service import (
    LinkInfo,
    case_claims,
    case_evidence,
    get_case,
    propose_status,
    quantity_groups,
)
from imint.errors import ImintError
from imint.faces.tables import FaceRow, Match, Person
from imint.records import Evidence
from imint.report import figures
from imint.store.db import utcnow
from imint.workspace import Workspace

TEMPLATES = Path(__file__).parent / "templates"


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


CardRenderer = Callable[[Workspace, LinkInfo, Evidence], Card]
# record type -> renderer; other parts add theirs (e.g. "detection", "change") with register_card_renderer.
CARD_RENDERERS: dict[str, CardRenderer] = {}


def register_card_renderer(record_type: str, renderer: CardRenderer) -> None:
    CARD_RENDERERS[record_type] = renderer


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


def _evidence_card(ws: Workspace, link: LinkInfo, evidence: Evidence) -> Card:
    return Card(
        title=evidence.original_name,
        sha256=evidence.sha256,
        image=evidence_thumbnail(ws, evidence),
        facts=evidence_facts(evidence),
    )


def _face_row(ws: Workspace, face_id: int) -> FaceRow | None:
    with ws.session() as s:
        face = s.get(FaceRow, face_id)
        if face is not None:
            s.expunge(face)
        return face


def _face_crop(ws: Workspace, evidence: Evidence, face: FaceRow) -> str | None:
    if evidence.kind != "image":
        return None
    try:
        img = Image.fromarray(ws.read_image(evidence))
    except ImintError:
        return None
    return figures.image_uri(figures.crop_with_box(img, (face.x1, face.y1, face.x2, face.y2)), max_px=360)


def _match_card(ws: Workspace, link: LinkInfo, evidence: Evidence) -> Card:
    with ws.session() as s:
        match = s.get(Match, link.record_id)
        face = s.get(FaceRow, match.face_id) if match else None
        person = s.get(Person, match.person_id) if match else None
        for row in (match, face, person):
            if row is not None:
                s.expunge(row)
    card = Card(title=f"Face candidate on {evidence.original_name}", sha256=evidence.sha256)
    if match is None or face is None:
        card.machine.append(f"match {link.record_id} no longer exists")
        return card
    card.image = _face_crop(ws, evidence, face)
    name = person.name if person else f"person {match.person_id}"
    card.facts = [
        ("candidate", name),
        ("similarity score", f"{match.score:.3f}"),
        ("false-match rate", format_fmr(match.fmr)),
        ("rank", str(match.rank)),
        ("operating point", match.operating_point),
        ("face quality", f"{face.quality:.2f} ({face.quality_reason})"),
        ("file", evidence.original_name),
        ("SHA-256", evidence.sha256),
    ]
    card.machine.append(
        f"Face search proposes {name} as rank-{match.rank} candidate, score {match.score:.3f}, "
        f"calibrated false-match rate {format_fmr(match.fmr)} at operating point {match.operating_point}."
    )
    if match.status == "confirmed":
        card.person.append(
            f"Confirmed as {name} by {match.decided_by} on {match.decided_at}. {match.note}".strip()
        )
    elif match.status == "rejected":
        card.person.append(f"Rejected by {match.decided_by} on {match.decided_at}. {match.note}".strip())
    else:
        card.person.append("Not reviewed by a person: a candidate only, not an identification.")
    card.method.append(f"Face model {face.model_id}; candidates at operating point {match.operating_point}")
    return card


def _face_card(ws: Workspace, link: LinkInfo, evidence: Evidence) -> Card:
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


CARD_RENDERERS.update({"": _evidence_card, "match": _match_card, "face": _face_card})
# Ship quicklooks and change maps of the sites part (imported here, below Card, which they build).
from imint.report.site_cards import RENDERERS as SITE_RENDERERS  # noqa: E402

CARD_RENDERERS.update(SITE_RENDERERS)


def format_fmr(fmr: float | None) -> str:
    if fmr is None:
        return "n/a"
    if fmr <= 0:
        return "below the calibration's resolution"
    return f"{fmr:.1e} (about 1 in {round(1 / fmr):,})" if fmr < 0.5 else f"{fmr:.2f}"


def render_card(ws: Workspace, link: LinkInfo, evidence: Evidence) -> Card:
    renderer = CARD_RENDERERS.get(link.record_type, _evidence_card)
    try:
        card = renderer(ws, link, evidence)
    except Exception as exc:  # noqa: BLE001 - show the failure in the report rather than no report
        card = _evidence_card(ws, link, evidence)
        card.machine.append(f"could not render {link.record_type}:{link.record_id}: {exc}")
    card.relation, card.note = link.relation, link.note
    card.linked_by = f"{link.created_by}, {link.created_at}"
    card.simulated = card.simulated or is_simulated(evidence)
    return card


# -- collection --------------------------------------------------------------------


@dataclass
class ReportPaths:
    html: Path | None
    pdf: Path | None
    console_errors: list[str] = field(default_factory=list)


def _capture_day(evidence: Evidence) -> str | None:
    meta = evidence.metadata
    tags = meta.get("tags") or {}
    for value in (
        tags.get("ACQUISITION_TIME"),
        tags.get("ACQUISITION_DATE"),
        tags.get("acquisition_time"),
        tags.get("TIFFTAG_DATETIME"),
        meta.get("exif_DateTimeOriginal"),
    ):
        if value:
            text = str(value).replace(":", "-", 2) if str(value)[4:5] == ":" else str(value)
            try:
                return dt.date.fromisoformat(text[:10]).isoformat()
            except ValueError:
                continue
    return None


def _raster_centre(evidence: Evidence) -> tuple[float, float] | None:
    meta = evidence.metadata
    if not meta.get("crs") or not meta.get("transform"):
        return None
    try:
        from pyproj import Transformer

        a, b, c, d, e, f = meta["transform"]
        x = c + a * meta["width"] / 2 + b * meta["height"] / 2
        y = f + d * meta["width"] / 2 + e * meta["height"] / 2
        lon, lat = Transformer.from_crs(meta["crs"], "EPSG:4326", always_xy=True).transform(x, y)
        return float(lat), float(lon)
    except Exception:  # noqa: BLE001 - a scene we cannot place is simply not on the map
        return None


def collect(ws: Workspace, case: str | int, *, verify: bool = True) -> dict[str, Any]:
    """Everything the template needs, as plain data."""
    info = get_case(ws, case)
    claims = case_claims(ws, info.id)
    evidence_notes = case_evidence(ws, info.id)
    evidence_by_sha = {ev.sha256: ev for ev, _ in evidence_notes}
    integrity = evidence_mod.verify_evidence(ws, list(evidence_by_sha)) if verify else []

    claim_sections = []
    methods: list[str] = []
    for claim in claims:
        cards = []
        for link in claim.links:
            ev = evidence_by_sha.get(link.evidence_sha256) or ws.evidence(link.evidence_sha256)
            card = render_card(ws, link, ev)
            cards.append(card)
            methods.extend(m for m in card.method if m not in methods)
        proposed, reason = propose_status(claim)
        adjective = {"supports": "supporting", "contradicts": "contradicting"}
        simulated = sorted({adjective[c.relation] for c in cards if c.simulated and c.relation in adjective})
        if simulated:  # a proposal resting on simulated imagery must say so wherever it is shown
            reason += f"; the {' and '.join(simulated)} evidence is SIMULATED"
        claim_sections.append(
            {"claim": claim, "cards": cards, "proposed": proposed, "proposed_reason": reason}
        )

    points = [
        figures.MapPoint(p.resolved_name or p.name, p.lat, p.lon, "place") for c in claims for p in c.places
    ]
    for ev in evidence_by_sha.values():
        centre = _raster_centre(ev)
        if centre:
            points.append(figures.MapPoint(f"scene {ev.original_name[:24]}", *centre, "scene"))
        elif "gps_lat" in ev.metadata:
            points.append(
                figures.MapPoint(
                    ev.original_name[:24], ev.metadata["gps_lat"], ev.metadata["gps_lon"], "site"
                )
            )

    items: list[figures.TimelineItem] = []
    for c in sorted(claims, key=lambda c: (c.date_from or c.published_on or "9999", c.id)):
        if c.date_from:
            items.append(
                figures.TimelineItem(f"#{c.id} events: {c.source[:30]}", c.date_from, c.date_to, "claim")
            )
        if c.published_on:
            items.append(
                figures.TimelineItem(f"#{c.id} published: {c.source[:30]}", c.published_on, None, "published")
            )
    for ev in evidence_by_sha.values():
        day = _capture_day(ev)
        if day:
            items.append(figures.TimelineItem(f"imagery: {ev.original_name[:34]}", day, None, "imagery"))

    # One row per place on the map and in its table, however many claims name it.
    points = list({(p.label, round(p.lat, 4), round(p.lon, 4)): p for p in points}.values())
    groups = quantity_groups(claims)
    custody = evidence_mod.custody_log(ws, list(evidence_by_sha))
    return {
        "case": info,
        "claims": claims,
        "claim_sections": claim_sections,
        "groups": [
            {"group": g, "chart": figures.figures_chart(g) if len(g.claims) > 1 else None} for g in groups
        ],
        "map": figures.places_map(points),
        "points": points,
        "places_geojson": json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [round(p.lon, 6), round(p.lat, 6)]},
                        "properties": {"label": p.label, "kind": p.kind},
                    }
                    for p in points
                ],
            }
        ),
        "timeline": figures.timeline(items),
        "evidence": [
            {
                "ev": ev,
                "note": note,
                "thumb": evidence_thumbnail(ws, ev),
                "facts": evidence_facts(ev),
                "simulated": is_simulated(ev),
            }
            for ev, note in evidence_notes
        ],
        "integrity": integrity,
        "custody": custody,
        "names": {sha: ev.original_name for sha, ev in evidence_by_sha.items()},
        "methods": methods,
        "gazetteer": GAZETTEER_SOURCE,
        "reliability_scale": RELIABILITY,
        "credibility_scale": CREDIBILITY,
        "admiralty_meaning": admiralty_meaning,
        "generated_at": utcnow(),
        "generated_by": ws.user,
        "version": __version__,
        "any_simulated": any(is_simulated(ev) for ev in evidence_by_sha.values()),
    }


def render_html(data: dict[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda sha: sha[:12]
    env.filters["details"] = lambda d: ", ".join(
        f"{k}={v}" for k, v in (d or {}).items() if v not in ("", None)
    )
    return env.get_template("report.html").render(**data)


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_report(
    ws: Workspace,
    case: str | int,
    *,
    html_path: str | Path | None = None,
    pdf_path: str | Path | None = None,
    html: bool = True,
    pdf: bool = True,
) -> ReportPaths:
    """Write the HTML report (and its PDF, printed by headless Chromium); log the export in custody."""
    info = get_case(ws, case)
    html_out = Path(html_path) if html_path else ws.exports_dir / f"{info.name}-report.html"
    pdf_out = Path(pdf_path) if pdf_path else html_out.with_suffix(".pdf")
    data = collect(ws, info.id)
    text = render_html(data)
    # The PDF is printed from the HTML, so the HTML is written even when only the PDF is asked for.
    target_html = html_out if html else pdf_out.with_name(f".{pdf_out.stem}.source.html")
    _write_text_atomic(target_html, text)
    console_errors: list[str] = []
    written_pdf: Path | None = None
    try:
        if pdf:
            from imint.report.browser import html_to_pdf

            footer = f"imint case report · {info.name} · generated {data['generated_at']}"
            console_errors = html_to_pdf(
                target_html, pdf_out, footer=footer, binary=ws.settings.chromium
            ).errors
            written_pdf = pdf_out
    finally:
        if not html:
            target_html.unlink(missing_ok=True)
    outputs = [str(p) for p in (html_out if html else None, written_pdf) if p]
    for sha in data["names"]:
        ws.log_custody(sha, "exported", report=outputs, case=info.name)
    return ReportPaths(html_out if html else None, written_pdf, console_errors)
