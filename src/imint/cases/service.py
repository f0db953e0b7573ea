"""Cases and claims: create, grade, link to evidence, propose a corroboration status.

Every write is one transaction: a claim with a bad date, an unknown place or an
invalid grade is refused whole, before anything is stored. Linking evidence to a
claim writes a ``linked`` entry to the evidence's custody log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imint.cases.gazetteer import Place, resolve_place
from imint.cases.grading import (
    admiralty_label,
    parse_credibility,
    parse_relation,
    parse_reliability,
    parse_status,
)
from imint.cases.tables import Case, CaseEvidence, ClaimLink, ClaimPlace, ClaimRow
from imint.cases.values import (
    format_date_range,
    format_figure,
    parse_date_range,
    parse_exact_day,
    parse_figure,
)
from imint.errors import ConflictError, NotFoundError, ValidationError
from imint.media.ingest import log_custody
from imint.records import Evidence
from imint.store.db import utcnow
from imint.store.models import EvidenceRow
from imint.workspace import Workspace

# -- records that leave this module ------------------------------------------------


@dataclass(frozen=True)
class CaseInfo:
    id: int
    name: str
    title: str
    summary: str
    created_at: str
    created_by: str
    n_claims: int = 0
    n_evidence: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LinkInfo:
    id: int
    claim_id: int
    evidence_sha256: str
    record_type: str
    record_id: int
    relation: str
    note: str
    created_at: str
    created_by: str

    @property
    def target(self) -> str:
        short = self.evidence_sha256[:12]
        return f"{self.record_type}:{self.record_id} on {short}" if self.record_type else f"evidence {short}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Claim:
    id: int
    case_id: int
    text: str
    source: str
    source_type: str
    publication: str
    published_on: str | None
    reliability: str | None
    credibility: int | None
    grading_note: str
    graded_by: str | None
    quantity: str
    value_low: float | None
    value_high: float | None
    unit: str
    date_from: str | None
    date_to: str | None
    status: str
    status_note: str
    status_by: str | None
    status_at: str | None
    created_at: str
    created_by: str
    places: tuple[Place, ...] = ()
    links: tuple[LinkInfo, ...] = ()

    @property
    def grading(self) -> str:
        return admiralty_label(self.reliability, self.credibility)

    @property
    def figure(self) -> str:
        return format_figure(self.value_low, self.value_high, self.unit)

    @property
    def dates(self) -> str:
        return format_date_range(self.date_from, self.date_to)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["places"] = [asdict(p) for p in self.places]
        d["links"] = [link.to_dict() for link in self.links]
        d["grading"] = self.grading
        d["figure"] = self.figure
        d["proposed_status"], d["proposed_reason"] = propose_status(self)
        return d


@dataclass
class QuantityGroup:
    """Claims about the same quantity, figures side by side."""

    quantity: str
    claims: list[Claim] = field(default_factory=list)

    @property
    def units(self) -> set[str]:
        return {c.unit for c in self.claims if c.value_high is not None}

    @property
    def spread(self) -> tuple[float, float] | None:
        lows = [
            c.value_low if c.value_low is not None else 0.0 for c in self.claims if c.value_high is not None
        ]
        highs = [c.value_high for c in self.claims if c.value_high is not None]
        return (min(lows), max(highs)) if highs else None


# -- conversions -------------------------------------------------------------------


def _place(row: ClaimPlace) -> Place:
    return Place(
        name=row.name,
        resolved_name=row.resolved_name,
        country_code=row.country_code,
        lat=row.lat,
        lon=row.lon,
        geonameid=row.geonameid,
    )


def _link(row: ClaimLink) -> LinkInfo:
    return LinkInfo(
        id=row.id,
        claim_id=row.claim_id,
        evidence_sha256=row.evidence_sha256,
        record_type=row.record_type,
        record_id=row.record_id,
        relation=row.relation,
        note=row.note,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _claim(row: ClaimRow) -> Claim:
    return Claim(
        id=row.id,
        case_id=row.case_id,
        text=row.text,
        source=row.source,
        source_type=row.source_type,
        publication=row.publication,
        published_on=row.published_on,
        reliability=row.reliability,
        credibility=row.credibility,
        grading_note=row.grading_note,
        graded_by=row.graded_by,
        quantity=row.quantity,
        value_low=row.value_low,
        value_high=row.value_high,
        unit=row.unit,
        date_from=row.date_from,
        date_to=row.date_to,
        status=row.status,
        status_note=row.status_note,
        status_by=row.status_by,
        status_at=row.status_at,
        created_at=row.created_at,
        created_by=row.created_by,
        places=tuple(_place(p) for p in row.places),
        links=tuple(_link(link) for link in row.links),
    )


def _case_row(s: Session, case: str | int) -> Case:
    row = s.get(Case, case) if isinstance(case, int) or str(case).isdigit() else None
    if row is None:
        row = s.scalar(select(Case).where(Case.name == str(case)))
    if row is None:
        raise NotFoundError("no such case in this workspace (see `imint case list`)", subject=f"case {case}")
    return row


def _claim_row(s: Session, claim_id: int) -> ClaimRow:
    row = s.get(ClaimRow, int(claim_id))
    if row is None:
        raise NotFoundError("no such claim (see `imint case show CASE`)", subject=f"claim {claim_id}")
    return row


def _case_info(s: Session, row: Case) -> CaseInfo:
    n_claims = s.scalar(select(func.count()).select_from(ClaimRow).where(ClaimRow.case_id == row.id)) or 0
    n_evidence = (
        s.scalar(select(func.count()).select_from(CaseEvidence).where(CaseEvidence.case_id == row.id)) or 0
    )
    return CaseInfo(
        row.id, row.name, row.title, row.summary, row.created_at, row.created_by, n_claims, n_evidence
    )


# -- cases -------------------------------------------------------------------------


def create_case(
    ws: Workspace, name: str, *, title: str = "", summary: str = "", exist_ok: bool = False
) -> CaseInfo:
    handle = (name or "").strip()
    if not handle or handle.isdigit() or any(c.isspace() for c in handle):
        raise ValidationError(
            "a case name is a short handle without spaces that is not only digits, e.g. 'dprk-troops-2024'",
            subject="case name",
        )
    with ws.session() as s:
        existing = s.scalar(select(Case).where(Case.name == handle))
        if existing is not None:
            if not exist_ok:
                raise ConflictError("a case with this name exists already", subject=f"case {handle}")
            return _case_info(s, existing)
        row = Case(name=handle, title=title or handle, summary=summary, created_by=ws.user)
        s.add(row)
        s.flush()
        return _case_info(s, row)


def get_case(ws: Workspace, case: str | int) -> CaseInfo:
    with ws.session() as s:
        return _case_info(s, _case_row(s, case))


def list_cases(ws: Workspace) -> list[CaseInfo]:
    with ws.session() as s:
        return [_case_info(s, row) for row in s.scalars(select(Case).order_by(Case.id)).all()]


def case_claims(ws: Workspace, case: str | int) -> list[Claim]:
    with ws.session() as s:
        return [_claim(row) for row in _case_row(s, case).claims]


def case_evidence(ws: Workspace, case: str | int) -> list[tuple[Evidence, str]]:
    """The case's evidence with the note it was added with, oldest first."""
    from imint.media.ingest import row_to_evidence

    with ws.session() as s:
        row = _case_row(s, case)
        pairs = s.execute(
            select(EvidenceRow, CaseEvidence.note)
            .join(CaseEvidence, CaseEvidence.evidence_sha256 == EvidenceRow.sha256)
            .where(CaseEvidence.case_id == row.id)
            .order_by(CaseEvidence.added_at, EvidenceRow.original_name)
        ).all()
        return [(row_to_evidence(ev, ws.objects_dir), note) for ev, note in pairs]


def add_evidence(
    ws: Workspace, case: str | int, paths: Sequence[str | Path], *, source: str = "", note: str = ""
) -> list[Evidence]:
    """Ingest files through the workspace's one ingest path and attach them to a case.

    The same bytes twice are stored once (``seen-again`` in custody) and attached once. A container a
    part knows how to open (a web capture, ``.wacz``) is kept whole and what it holds is added too.
    """
    case_name = get_case(ws, case).name
    out: list[Evidence] = []
    for path in paths:
        for evidence in import_evidence(ws, path, source=source):
            attach_evidence(ws, case_name, evidence.sha256, note=note)
            out.append(evidence)
    return out


def import_evidence(ws: Workspace, path: str | Path, *, source: str = "") -> list[Evidence]:
    """One file as evidence, or a container (``.wacz``...) with everything it holds, via the parts' importers."""
    importer = ws.parts.importer_for(Path(path))
    if importer is not None:
        return list(importer(ws, Path(path), source=source))
    return [ws.ingest(path, source=source)]


def export_case(ws: Workspace, case: str | int, fmt: str) -> Any:
    """The case in an exchange format a part offers (``stix``: a STIX 2.1 bundle)."""
    exporters = ws.parts.exporters()
    if fmt not in exporters:
        raise ValidationError(
            f"unknown export format {fmt!r}; known: {', '.join(sorted(exporters)) or 'none'}",
            subject="format",
        )
    return exporters[fmt](ws, get_case(ws, case).name)


def attach_evidence(ws: Workspace, case: str | int, sha256: str, *, note: str = "") -> bool:
    """Attach stored evidence to a case; False if it was attached already."""
    sha = ws.evidence(sha256).sha256
    with ws.session() as s:
        row = _case_row(s, case)
        if s.get(CaseEvidence, (row.id, sha)) is not None:
            return False
        s.add(CaseEvidence(case_id=row.id, evidence_sha256=sha, note=note, added_by=ws.user))
        log_custody(s, sha, "linked", ws.user, case=row.name)
        return True


# -- claims ------------------------------------------------------------------------


def add_claim(
    ws: Workspace,
    case: str | int,
    text: str,
    *,
    source: str = "",
    source_type: str = "",
    publication: str = "",
    published_on: str | None = None,
    reliability: str | None = None,
    credibility: str | int | None = None,
    grading_note: str = "",
    figure: str | None = None,
    unit: str = "",
    quantity: str = "",
    dates: str | None = None,
    places: Iterable[str] = (),
    status: str = "claimed",
) -> Claim:
    """Add a claim; every field is validated before anything is written."""
    if not (text or "").strip():
        raise ValidationError("a claim needs its text", subject="claim text")
    rel = parse_reliability(reliability)
    cred = parse_credibility(credibility)
    fig = parse_figure(figure, unit) if figure else None
    if fig is not None and not quantity:
        raise ValidationError(
            "a figure needs the quantity it counts (e.g. 'North Korean troops in Russia'), "
            "so claims about the same quantity can be compared",
            subject="quantity",
        )
    published = parse_exact_day(published_on) if published_on else None
    date_from, date_to = parse_date_range(dates) if dates else (None, None)
    resolved = [resolve_place(p) for p in places]
    st = parse_status(status)
    with ws.session() as s:
        case_row = _case_row(s, case)
        row = ClaimRow(
            case_id=case_row.id,
            text=text.strip(),
            source=source.strip(),
            source_type=source_type.strip(),
            publication=publication.strip(),
            published_on=published,
            reliability=rel,
            credibility=cred,
            grading_note=grading_note,
            graded_by=ws.user if (rel or cred) else None,
            graded_at=utcnow() if (rel or cred) else None,
            quantity=quantity.strip(),
            value_low=fig.low if fig else None,
            value_high=fig.high if fig else None,
            unit=fig.unit if fig else "",
            date_from=date_from,
            date_to=date_to,
            status=st,
            status_by=ws.user,
            status_at=utcnow(),
            created_by=ws.user,
        )
        row.places = [
            ClaimPlace(
                name=p.name,
                resolved_name=p.resolved_name,
                country_code=p.country_code,
                lat=p.lat,
                lon=p.lon,
                geonameid=p.geonameid,
            )
            for p in resolved
        ]
        s.add(row)
        s.flush()
        return _claim(row)


def get_claim(ws: Workspace, claim_id: int) -> Claim:
    with ws.session() as s:
        return _claim(_claim_row(s, claim_id))


def grade_claim(
    ws: Workspace,
    claim_id: int,
    *,
    reliability: str | None = None,
    credibility: str | int | None = None,
    note: str | None = None,
) -> Claim:
    """Set one or both halves of the Admiralty code (a half left None keeps its value)."""
    rel = parse_reliability(reliability)
    cred = parse_credibility(credibility)
    if rel is None and cred is None:
        raise ValidationError("give --reliability (A–F), --credibility (1–6) or both", subject="grading")
    with ws.session() as s:
        row = _claim_row(s, claim_id)
        if rel is not None:
            row.reliability = rel
        if cred is not None:
            row.credibility = cred
        if note is not None:
            row.grading_note = note
        row.graded_by, row.graded_at = ws.user, utcnow()
        s.flush()
        return _claim(row)


def set_status(ws: Workspace, claim_id: int, status: str, *, note: str = "") -> Claim:
    """A person decides the claim's status (the machine only proposes one)."""
    st = parse_status(status)
    with ws.session() as s:
        row = _claim_row(s, claim_id)
        row.status, row.status_note, row.status_by, row.status_at = st, note, ws.user, utcnow()
        s.flush()
        return _claim(row)


def parse_record(ws: Workspace, text: str) -> tuple[str, int]:
    """'match:12' -> ('match', 12); the types are those the workspace's parts register."""
    types = ws.parts.record_types()
    kind, _, ident = (text or "").partition(":")
    if kind not in types or not ident.strip().isdigit():
        raise ValidationError(
            f"a record is TYPE:ID with TYPE one of {', '.join(sorted(types))}; got {text!r}",
            subject="record",
        )
    return kind, int(ident)


def link_claim(
    ws: Workspace,
    claim_id: int,
    relation: str,
    *,
    evidence: str | None = None,
    record: str | tuple[str, int] | None = None,
    note: str = "",
) -> LinkInfo:
    """Link a claim to evidence, or to a record made from evidence; re-linking updates the link."""
    rel = parse_relation(relation)
    if (evidence is None) == (record is None):
        raise ValidationError("link either --evidence SHA or --record TYPE:ID", subject="link")
    record_type, record_id = "", 0
    with ws.session() as s:
        claim = _claim_row(s, claim_id)
        if record is not None:
            types = ws.parts.record_types()
            record_type, record_id = parse_record(ws, record) if isinstance(record, str) else record
            if record_type not in types:
                raise ValidationError(f"unknown record type {record_type!r}", subject="record")
            sha = types[record_type](s, record_id)
            if sha is None:
                raise NotFoundError("no such record", subject=f"{record_type}:{record_id}")
        else:
            sha = ws.evidence(str(evidence)).sha256
        existing = s.scalar(
            select(ClaimLink).where(
                ClaimLink.claim_id == claim.id,
                ClaimLink.evidence_sha256 == sha,
                ClaimLink.record_type == record_type,
                ClaimLink.record_id == record_id,
            )
        )
        if existing is not None and existing.relation == rel and existing.note == note:
            return _link(existing)
        if existing is None:
            existing = ClaimLink(
                claim_id=claim.id,
                evidence_sha256=sha,
                record_type=record_type,
                record_id=record_id,
                created_by=ws.user,
            )
            s.add(existing)
        existing.relation, existing.note = rel, note
        # A claim's evidence belongs to its case, whether or not it was attached first.
        if s.get(CaseEvidence, (claim.case_id, sha)) is None:
            s.add(CaseEvidence(case_id=claim.case_id, evidence_sha256=sha, added_by=ws.user))
        s.flush()
        details: dict[str, Any] = {"claim": claim.id, "relation": rel, "note": note}
        if record_type:
            details["record"] = f"{record_type}:{record_id}"
        log_custody(s, sha, "linked", ws.user, **details)
        return _link(existing)


def propose_status(claim: Claim) -> tuple[str, str]:
    """What the links suggest, with the reason; a person sets the status (``set_status``).

    The machine never proposes 'confirmed': that takes a person who weighed the
    evidence. Context links neither support nor contradict.
    """
    supports = sum(1 for link in claim.links if link.relation == "supports")
    contradicts = sum(1 for link in claim.links if link.relation == "contradicts")
    if supports and contradicts:
        return "unconfirmed", f"evidence disagrees: {supports} supporting, {contradicts} contradicting"
    if supports:
        return "corroborated", f"{supports} supporting link(s), none contradicting"
    if contradicts:
        return "contradicted", f"{contradicts} contradicting link(s), none supporting"
    if claim.links:
        return "unconfirmed", "only context evidence"
    return "unconfirmed", "no evidence linked"


def quantity_groups(claims: Iterable[Claim]) -> list[QuantityGroup]:
    """Group claims that give a figure for the same quantity (case-insensitive name)."""
    groups: dict[str, QuantityGroup] = {}
    for claim in claims:
        if not claim.quantity or claim.value_high is None:
            continue
        key = claim.quantity.casefold()
        groups.setdefault(key, QuantityGroup(claim.quantity)).claims.append(claim)
    return list(groups.values())
