"""The case report: one self-contained HTML file (images inlined) and its PDF.

The report tells apart, everywhere, what the machine found (a face candidate at a
false-match rate, a detected ship, a proposed status) and what a person decided
(a confirmed match, a grading, a claim's status). Building it re-hashes the
case's evidence (``verified`` in custody) and records the export (``exported``).

Each linked record is drawn by the part that owns its type (``ws.parts.cards()``);
evidence linked as a whole file gets the plain evidence card, and every part may add
cards of its own to each piece of evidence (``Part.evidence_cards``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from imint import __version__
from imint.cases.casemap import map_features
from imint.cases.evidence import custody_log, verify_evidence
from imint.cases.gazetteer import SOURCE as GAZETTEER_SOURCE
from imint.cases.grading import CREDIBILITY, RELIABILITY, admiralty_label, admiralty_meaning
from imint.cases.service import (
    CaseInfo,
    Claim,
    LinkInfo,
    QuantityGroup,
    case_claims,
    case_evidence,
    get_case,
    propose_status,
    quantity_groups,
)
from imint.cases.values import format_figure
from imint.media.ingest import log_custody
from imint.records import Evidence
from imint.report import figures
from imint.report.cards import Card, evidence_card, evidence_facts, evidence_thumbnail, is_simulated
from imint.report.html import ReportPaths, render_html, write_report
from imint.store.db import utcnow
from imint.workspace import Workspace

# One build at a time: the web page and the report job write the same export files.
_build_lock = threading.Lock()


# -- cards ---------------------------------------------------------------------------


def render_card(ws: Workspace, link: LinkInfo, evidence: Evidence) -> Card:
    """The card of one claim link, drawn by the part that owns the link's record type."""
    renderer = ws.parts.cards().get(link.record_type, evidence_card)
    try:
        card = renderer(ws, link, evidence)
    except Exception as exc:  # noqa: BLE001 - show the failure in the report rather than no report
        card = evidence_card(ws, link, evidence)
        card.machine.append(f"could not render {link.record_type}:{link.record_id}: {exc}")
    card.relation, card.note = link.relation, link.note
    card.linked_by = f"{link.created_by}, {link.created_at}"
    card.simulated = card.simulated or is_simulated(evidence)
    return card


def extra_evidence_cards(ws: Workspace, evidence: Evidence) -> list[Card]:
    """What every part adds to a piece of evidence (``Part.evidence_cards``), in the parts' order."""
    cards: list[Card] = []
    for part in ws.parts:
        for card in part.evidence_cards(ws, evidence):
            card.simulated = card.simulated or is_simulated(evidence)
            cards.append(card)
    return cards


def _claim_section(ws: Workspace, claim: Claim, evidence_by_sha: dict[str, Evidence]) -> dict[str, Any]:
    cards = [
        render_card(ws, link, evidence_by_sha.get(link.evidence_sha256) or ws.evidence(link.evidence_sha256))
        for link in claim.links
    ]
    proposed, reason = propose_status(claim)
    adjective = {"supports": "supporting", "contradicts": "contradicting"}
    simulated = sorted({adjective[c.relation] for c in cards if c.simulated and c.relation in adjective})
    if simulated:  # a proposal resting on simulated imagery must say so wherever it is shown
        reason += f"; the {' and '.join(simulated)} evidence is SIMULATED"
    return {"claim": claim, "cards": cards, "proposed": proposed, "proposed_reason": reason}


# -- figures -------------------------------------------------------------------------


def figures_chart(group: QuantityGroup) -> str:
    """The figures that claims give for one quantity, one row per claim, side by side."""
    rows = [
        figures.RangeRow(
            label=f"#{c.id} {figures.shorten(c.source, 30)} ({admiralty_label(c.reliability, c.credibility)})",
            low=c.value_low,
            high=c.value_high or 0.0,
            text=format_figure(c.value_low, c.value_high, ""),
        )
        for c in group.claims
    ]
    unit = ", ".join(sorted(group.units)) or "value"
    spread = group.spread
    return figures.ranges_chart(
        rows, xlabel=f"{group.quantity} ({unit})", xmax=spread[1] * 1.25 if spread else None
    )


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


def map_points(features: list[dict[str, Any]]) -> list[figures.MapPoint]:
    """The case map's points (claimed places, photos, scenes) for the static map; one per place."""
    kinds = {"claimed-place": "place", "photo": "photo", "scene": "scene"}
    points = []
    for f in features:
        kind = kinds.get(f["properties"].get("kind", ""))
        if kind is None or f["geometry"]["type"] != "Point":
            continue
        lon, lat = f["geometry"]["coordinates"]
        name = f["properties"].get("name", "")
        label = f"scene {name[:24]}" if kind == "scene" else name[:24] if kind == "photo" else name
        points.append(figures.MapPoint(label, lat, lon, kind))
    # One row per place on the map and in its table, however many claims name it.
    return list({(p.label, round(p.lat, 4), round(p.lon, 4)): p for p in points}.values())


def map_lines(features: list[dict[str, Any]]) -> list[figures.MapLine]:
    """Lines from a photo's GPS point to the claimed place it contradicts."""
    return [
        figures.MapLine(
            f"claim #{f['properties']['claim_id']}: {f['properties']['distance_km']:.0f} km",
            [(lat, lon) for lon, lat in f["geometry"]["coordinates"]],
            "contradiction",
        )
        for f in features
        if f["properties"].get("kind") == "contradiction"
    ]


def photo_rows(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each placed photo with its capture time (UTC and local) and what it contradicts."""
    return [
        {**f["properties"], "lat": f["geometry"]["coordinates"][1], "lon": f["geometry"]["coordinates"][0]}
        for f in features
        if f["properties"].get("kind") == "photo"
    ]


def timeline_items(claims: list[Claim], evidence: list[Evidence]) -> list[figures.TimelineItem]:
    """Events as claimed and publication days, in claim order, then the days imagery was taken."""
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
    for ev in evidence:
        day = _capture_day(ev)
        if day:
            items.append(figures.TimelineItem(f"imagery: {ev.original_name[:34]}", day, None, "imagery"))
    return items


# -- assembly ------------------------------------------------------------------------


def _register_row(ws: Workspace, ev: Evidence, note: str) -> dict[str, Any]:
    return {
        "ev": ev,
        "note": note,
        "thumb": evidence_thumbnail(ws, ev),
        "facts": evidence_facts(ev),
        "simulated": is_simulated(ev),
        "cards": extra_evidence_cards(ws, ev),
    }


def collect(ws: Workspace, case: str | int, *, verify: bool = True) -> dict[str, Any]:
    """Everything the template needs, as plain data."""
    info = get_case(ws, case)
    claims = case_claims(ws, info.id)
    evidence_notes = case_evidence(ws, info.id)
    evidence_by_sha = {ev.sha256: ev for ev, _ in evidence_notes}
    integrity = verify_evidence(ws, list(evidence_by_sha)) if verify else []
    claim_sections = [_claim_section(ws, claim, evidence_by_sha) for claim in claims]
    methods: list[str] = []
    for section in claim_sections:
        for card in section["cards"]:
            methods.extend(m for m in card.method if m not in methods)
    features = map_features(ws, claims, list(evidence_by_sha.values()))
    points = map_points(features)
    return {
        "case": info,
        "claims": claims,
        "claim_sections": claim_sections,
        "groups": [
            {"group": g, "chart": figures_chart(g) if len(g.claims) > 1 else None}
            for g in quantity_groups(claims)
        ],
        "map": figures.places_map(points, map_lines(features)),
        "points": points,
        "photos": photo_rows(features),
        # "</" cannot end the script element it is embedded in
        "places_geojson": json.dumps({"type": "FeatureCollection", "features": features}).replace(
            "</", "<\\/"
        ),
        "timeline": figures.timeline(timeline_items(claims, list(evidence_by_sha.values()))),
        "evidence": [_register_row(ws, ev, note) for ev, note in evidence_notes],
        "integrity": integrity,
        "custody": custody_log(ws, list(evidence_by_sha)),
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


def report_path(ws: Workspace, case: CaseInfo, suffix: str = ".html") -> Path:
    """Where a case's report is written unless told otherwise: ``exports/CASE-report.html`` (or ``.pdf``)."""
    return ws.exports_dir / f"{case.name}-report{suffix}"


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
    html_out = Path(html_path) if html_path else report_path(ws, info)
    pdf_out = Path(pdf_path) if pdf_path else html_out.with_suffix(".pdf")
    with _build_lock:
        data = collect(ws, info.id)
        paths = write_report(
            render_html(data),
            html_out=html_out,
            pdf_out=pdf_out,
            html=html,
            pdf=pdf,
            footer=f"imint case report · {info.name} · generated {data['generated_at']}",
            chromium=ws.settings.chromium,
        )
    outputs = [str(p) for p in (paths.html, paths.pdf) if p]
    with ws.session() as s:  # one transaction: a killed run logs the export of all its evidence or none
        for sha in data["names"]:
            log_custody(s, sha, "exported", ws.user, report=outputs, case=info.name)
    return paths
