"""The checks part: verification checks on every picture (copies, edits, metadata, credentials, sun)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from imint.parts import Part

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from imint.records import Evidence
    from imint.workspace import Workspace


def check_evidence(session: Session, record_id: int) -> str | None:
    """``check:ID`` (a stored check result) -> the evidence it is about."""
    from imint.checks.tables import CheckResultRow

    row = session.get(CheckResultRow, record_id)
    return row.evidence_sha256 if row else None


def _card_class():  # noqa: ANN202 - the report's Card dataclass
    from imint.report.cards import Card

    return Card


def _heatmap_uri(ws: Workspace, artifact: str | None) -> str | None:
    if not artifact:
        return None
    path = ws.path / artifact
    if not path.is_file():
        return None
    from PIL import Image

    from imint.report.figures import image_uri

    with Image.open(path) as img:
        return image_uri(img, fmt="PNG")


def render_check_card(ws: Workspace, link: Any, evidence: Evidence) -> Any:
    """A claim's link to one check result, as a report card (machine finding, method, heat map)."""
    from imint.checks.runner import row_to_result
    from imint.checks.tables import CheckResultRow

    Card = _card_class()
    with ws.session() as s:
        row = s.get(CheckResultRow, link.record_id)
        result = row_to_result(row) if row else None
    if result is None:
        return Card(
            title=f"check:{link.record_id} (no longer stored)",
            sha256=evidence.sha256,
            relation=link.relation,
            note=link.note,
            linked_by=link.created_by,
        )
    extra = [(uri, f"{result.check} heat map")] if (uri := _heatmap_uri(ws, result.artifact)) else []
    machine = [result.summary, *_claim_contradictions(ws, result, link)]
    return Card(
        title=f"{result.check} check on {evidence.original_name}",
        sha256=evidence.sha256,
        facts=[
            ("status", result.status),
            ("score", "" if result.score is None else f"{result.score:g}"),
            ("run at", result.created_at),
        ],
        machine=machine,
        method=[result.method],
        extra_images=extra,
        relation=link.relation,
        note=link.note,
        linked_by=link.created_by,
    )


def _claim_contradictions(ws: Workspace, result: Any, link: Any) -> list[str]:
    """A metadata result linked from a claim, against that claim's dates and places."""
    claim_id = getattr(link, "claim_id", None)
    if result.check != "metadata" or claim_id is None:
        return []
    from imint.cases import get_claim
    from imint.checks.metadata import contradictions

    found = contradictions(result, get_claim(ws, claim_id))
    return [f"Against claim #{claim_id}: {c.message} (metadata can be wrong or rewritten)." for c in found]


def _import_capture(ws: Workspace, path: Path, *, source: str = "") -> list[Evidence]:
    """A web capture: the archive whole, then every image response in it (custody: URL, time, archive hash)."""
    from imint.checks.capture import ingest_capture

    result = ingest_capture(ws, path, source=source)
    return [result.archive, *result.images]


class ChecksPart(Part):
    name = "checks"
    title = "Verification checks"
    table_modules = ("imint.checks.tables",)
    migrations = Path(__file__).parent / "migrations"

    def commands(self, app: Any, eval_app: Any) -> None:
        from imint.checks.cli import register

        register(app, eval_app)

    def routers(self) -> list[Any]:
        from imint.checks.routes import router

        return [router]

    def record_types(self) -> dict[str, Any]:
        return {"check": check_evidence}

    def cards(self) -> dict[str, Any]:
        return {"check": render_check_card}

    def evidence_cards(self, ws: Workspace, evidence: Evidence) -> list[Any]:
        """One card per evidence with every stored check: machine findings only, never a verdict."""
        from imint.checks.runner import stored_results
        from imint.checks.shadow import shadow_markings

        results = stored_results(ws, evidence.sha256)
        markings = shadow_markings(ws, evidence.sha256)
        if not results and not markings:
            return []
        Card = _card_class()
        extra = [
            (uri, f"{r.check} heat map")
            for r in results
            if r.status == "flagged" and (uri := _heatmap_uri(ws, r.artifact))
        ]
        return [
            Card(
                title=f"Checks on {evidence.original_name}",
                sha256=evidence.sha256,
                machine=[f"{r.check}: {r.status}. {r.summary}" for r in results],
                # A person's shadow marking is their input, shown apart from the machine's findings.
                person=[
                    f"Sun check: shadow marked by {m.created_by or 'unknown'} at {m.created_at} "
                    f"(shadow_marking {m.id}{'; ' + m.note if m.note else ''}). {m.summary}"
                    for m in markings
                ],
                method=sorted(
                    {r.method for r in results if r.method}
                    | (
                        {"NOAA solar position; shadow ratio over height (imint.checks.shadow)"}
                        if markings
                        else set()
                    )
                ),
                extra_images=extra,
            )
        ]

    def on_ingest(self, ws: Workspace, evidence: Evidence, session: Session) -> None:
        """The cheap checks (metadata, C2PA, perceptual hash + near-duplicates, first seen) inside the ingest."""
        from imint.checks.base import CheckContext
        from imint.checks.registry import GROUPS
        from imint.checks.runner import run_checks_in_session

        if not CheckContext(ws, evidence, session).is_image():
            return

        # ``Workspace.ingest`` calls this hook in the transaction that has just stored the evidence row.
        run_checks_in_session(ws, session, evidence, GROUPS["cheap"], just_stored=True)

    def importers(self) -> dict[str, Any]:
        return {suffix: _import_capture for suffix in (".wacz", ".warc", ".warc.gz")}

    def exporters(self) -> dict[str, Any]:
        from imint.checks.stix import case_to_stix

        return {"stix": case_to_stix}

    def case_map(self, ws: Workspace, claims: list[Any], evidence: list[Evidence]) -> list[dict[str, Any]]:
        from imint.checks.casemap import photo_features

        return photo_features(ws, claims, evidence)

    def evidence_view(self, ws: Workspace, sha256: str) -> dict[str, Any] | None:
        from imint.checks.runner import stored_results
        from imint.checks.shadow import shadow_markings, sun_inputs

        results = stored_results(ws, sha256)
        markings = shadow_markings(ws, sha256)
        if not results and not markings:
            return None
        return {
            "checks": [r.to_dict() for r in results],
            # The sun check's inputs (EXIF place and time) and the shadows people marked: person's input
            "sun": sun_inputs(ws, sha256),
            "shadow_markings": [m.to_dict() for m in markings],
        }


PART = ChecksPart()
