"""case_to_stix: a STIX 2.1 bundle that stix2's parser reads back, grades kept apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imint import cases, checks
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, jpeg_bytes, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


import stix2  # noqa: E402


def test_case_bundle_parses_with_grades_hashes_and_links(ws, tmp_path: Path) -> None:
    f = tmp_path / "port.jpg"
    f.write_bytes(jpeg_bytes(astronaut()[:96, :96], 85))
    cases.create_case(ws, "dprk", title="Troops shipped")
    claim = cases.add_claim(
        ws,
        "dprk",
        "1,500 special forces shipped to Vladivostok",
        source="NIS (South Korea)",
        reliability="B",
        credibility=3,
        dates="2024-10-08/2024-10-13",
        places=["Vladivostok"],
    )
    other = cases.add_claim(
        ws, "dprk", "No troops were sent", source="Ministry X", reliability="E", credibility=5
    )
    ev = cases.add_evidence(ws, "dprk", [f], source="https://example.org/port")[0]
    cases.link_claim(ws, claim.id, "supports", evidence=ev.sha256, note="ships at the pier")
    cases.link_claim(ws, other.id, "contradicts", evidence=ev.sha256)
    checks.run_checks(ws, ev, ["c2pa"])

    bundle_dict = checks.case_to_stix(ws, "dprk")
    bundle = stix2.parse(bundle_dict, allow_custom=True)
    by_type: dict[str, list] = {}
    for obj in bundle.objects:
        by_type.setdefault(obj.type, []).append(obj)
    files = by_type["file"]
    assert files[0].hashes["SHA-256"] == ev.sha256
    reports = {r.x_imint_claim_id: r for r in by_type["report"]}
    assert reports[claim.id].x_imint_credibility == 3 and reports[claim.id].confidence == 50
    assert reports[other.id].x_imint_credibility == 5 and reports[other.id].confidence == 10
    sources = {i.name: i for i in by_type["identity"]}
    assert sources["NIS (South Korea)"].x_imint_reliability == "B"
    assert sources["Ministry X"].x_imint_reliability == "E"
    assert reports[claim.id].created_by_ref == sources["NIS (South Korea)"].id
    rels = {(r.relationship_type, r.target_ref) for r in by_type["relationship"]}
    observed = by_type["observed-data"][0]
    assert rels == {("supports", reports[claim.id].id), ("contradicts", reports[other.id].id)}
    assert all(r.source_ref == observed.id for r in by_type["relationship"])
    assert "c2pa" in {c["check"] for c in observed.x_imint_checks}
    assert by_type["grouping"][0].x_imint_case == "dprk"


def test_case_export_writes_the_bundle_from_the_command_line(ws, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from imint.cli import make_app

    cases.create_case(ws, "dprk", title="Troops shipped")
    cases.add_claim(ws, "dprk", "Troops were shipped", source="NIS", reliability="B", credibility=2)
    out = tmp_path / "dprk.stix.json"
    result = CliRunner().invoke(
        make_app(), ["case", "export", "dprk", "--stix", str(out), "-w", str(ws.path)]
    )
    assert result.exit_code == 0, result.output
    bundle = stix2.parse(json.loads(out.read_text()), allow_custom=True)
    assert {o.type for o in bundle.objects} >= {"report", "identity", "grouping"}
    unknown = CliRunner().invoke(
        make_app(), ["case", "export", "nope", "--stix", str(out), "-w", str(ws.path)]
    )
    assert unknown.exit_code != 0 and "nope" in unknown.output
