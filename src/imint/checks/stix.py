"""A case as a STIX 2.1 bundle (``stix2``), for exchange with MISP, OpenCTI and the like.

* each claim source -> ``identity``, with the Admiralty *reliability* (A-F) of the source as
  ``x_imint_reliability`` (STIX has no field for it);
* each claim -> ``report`` (its text, dates, places, status), with the Admiralty *credibility* (1-6) of
  the information as ``x_imint_credibility`` and as STIX ``confidence`` on the spec's "Admiralty
  Credibility" scale (STIX 2.1 Appendix A: 1 -> 90, 2 -> 70, 3 -> 50, 4 -> 30, 5 -> 10, 6 -> none);
* each evidence file -> ``file`` (SHA-256, name, size, type) inside an ``observed-data`` (ingest time);
* each link -> ``relationship`` observed-data -> report (``supports``, ``contradicts``, ``context``);
* the case -> ``grouping`` of all of them. Stored check results ride along on the observed-data as
  ``x_imint_checks`` (status and summary only).

Grades are kept apart, never merged into "B3", as in the case tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imint.errors import NotFoundError

if TYPE_CHECKING:
    from imint.workspace import Workspace

ADMIRALTY_CONFIDENCE = {1: 90, 2: 70, 3: 50, 4: 30, 5: 10}  # 6: "cannot be judged" -> no confidence
IMINT_IDENTITY_NAME = "imint workspace"


def _ts(value: str | None) -> str | None:
    """ISO date or time as a STIX timestamp (UTC, 'Z')."""
    if not value:
        return None
    v = value.strip()
    if len(v) == 10:
        return f"{v}T00:00:00Z"
    return v if v.endswith("Z") else v.replace("+00:00", "") + "Z"


def case_to_stix(ws: Workspace, case_name: str) -> dict[str, Any]:
    """The case as a STIX 2.1 bundle, as a JSON-ready dict (``stix2.parse`` reads it back)."""
    import stix2

    from imint import cases
    from imint.cases import CREDIBILITY, RELIABILITY

    info = cases.get_case(ws, case_name)
    claims = cases.case_claims(ws, case_name)
    evidence = cases.case_evidence(ws, case_name)
    author = stix2.Identity(name=IMINT_IDENTITY_NAME, identity_class="system", allow_custom=True)
    objects: list[Any] = [author]
    checks_by_sha = _stored_checks(ws, [ev.sha256 for ev, _ in evidence])

    observed: dict[str, Any] = {}
    for ev, note in evidence:
        f = stix2.File(
            hashes={"SHA-256": ev.sha256},
            name=ev.original_name,
            size=ev.size_bytes,
            mime_type=ev.media_type if "/" in ev.media_type else None,
        )
        when = _ts(ev.added_at)
        od = stix2.ObservedData(
            created_by_ref=author.id,
            first_observed=when,
            last_observed=when,
            number_observed=1,
            object_refs=[f.id],
            custom_properties={
                "x_imint_source": ev.source,
                "x_imint_note": note,
                "x_imint_checks": checks_by_sha.get(ev.sha256, []),
            },
            allow_custom=True,
        )
        observed[ev.sha256] = od
        objects += [f, od]

    sources: dict[str, Any] = {}
    for claim in claims:
        key = claim.source or "unknown source"
        if key not in sources:
            custom = {"x_imint_source_type": claim.source_type}
            if claim.reliability:
                custom["x_imint_reliability"] = claim.reliability
                custom["x_imint_reliability_label"] = RELIABILITY[claim.reliability]
            sources[key] = stix2.Identity(
                name=key, identity_class="organization", custom_properties=custom, allow_custom=True
            )
            objects.append(sources[key])
        refs = [sources[key].id] + [
            observed[link.evidence_sha256].id for link in claim.links if link.evidence_sha256 in observed
        ]
        custom: dict[str, Any] = {
            "x_imint_claim_id": claim.id,
            "x_imint_status": claim.status,
            "x_imint_date_from": claim.date_from,
            "x_imint_date_to": claim.date_to,
            "x_imint_places": [
                {"name": p.name, "resolved_name": p.resolved_name, "lat": p.lat, "lon": p.lon}
                for p in claim.places
            ],
            "x_imint_figure": claim.figure,
        }
        kwargs: dict[str, Any] = {}
        if claim.credibility:
            custom["x_imint_credibility"] = claim.credibility
            custom["x_imint_credibility_label"] = CREDIBILITY[claim.credibility]
            if claim.credibility in ADMIRALTY_CONFIDENCE:
                kwargs["confidence"] = ADMIRALTY_CONFIDENCE[claim.credibility]
        report = stix2.Report(
            name=claim.text[:200],
            description=claim.text,
            published=_ts(claim.published_on) or _ts(claim.created_at),
            report_types=["imint-claim"],
            object_refs=list(dict.fromkeys(refs)),
            created_by_ref=sources[key].id,
            custom_properties=custom,
            allow_custom=True,
            **kwargs,
        )
        objects.append(report)
        for link in claim.links:
            if link.evidence_sha256 not in observed:
                continue
            objects.append(
                stix2.Relationship(
                    source_ref=observed[link.evidence_sha256].id,
                    target_ref=report.id,
                    relationship_type=link.relation,
                    description=link.note or None,
                    created_by_ref=author.id,
                    custom_properties={
                        "x_imint_record": f"{link.record_type}:{link.record_id}" if link.record_type else None
                    },
                    allow_custom=True,
                )
            )
    refs = [o.id for o in objects if o.type not in ("identity",)]
    if not refs:
        raise NotFoundError("the case has no claims or evidence to export", subject=f"case {case_name}")
    objects.append(
        stix2.Grouping(
            name=info.title or info.name,
            description=info.summary or None,
            context="unspecified",
            object_refs=refs,
            created_by_ref=author.id,
            custom_properties={"x_imint_case": info.name},
            allow_custom=True,
        )
    )
    bundle = stix2.Bundle(objects=objects, allow_custom=True)
    import json

    return json.loads(bundle.serialize())


def _stored_checks(ws: Workspace, shas: list[str]) -> dict[str, list[dict[str, Any]]]:
    from sqlalchemy import select

    from imint.checks.tables import CheckResultRow

    out: dict[str, list[dict[str, Any]]] = {}
    if not shas:
        return out
    with ws.session() as s:
        for row in s.scalars(select(CheckResultRow).where(CheckResultRow.evidence_sha256.in_(shas))):
            out.setdefault(row.evidence_sha256, []).append(
                {"check": row.check, "status": row.status, "summary": row.summary, "method": row.method}
            )
    return out
