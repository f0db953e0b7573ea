"""Cases: graded claims, figures and dates as ranges, places, links, evidence integrity."""

import os

import pytest

from imint import cases
from imint.cases.grading import parse_admiralty, parse_credibility, parse_reliability
from imint.cases.values import parse_date_range, parse_figure
from imint.errors import ConflictError, NotFoundError, ValidationError
from imint.workspace import Workspace
from tests.db_support import RefusedByDatabase, execute


@pytest.fixture
def ws(tmp_path):
    w = Workspace(tmp_path / "ws", user="analyst")
    cases.create_case(w, "c1", title="Case one")
    yield w
    w.close()


def _file(tmp_path, name, data=b"payload"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _claim_count(ws):
    return len(cases.case_claims(ws, "c1"))


# -- Admiralty grading -------------------------------------------------------------


def test_admiralty_halves_are_parsed_and_kept_separate():
    assert parse_reliability("b") == "B"
    assert parse_credibility("3") == 3
    assert parse_admiralty("c4") == ("C", 4)
    assert parse_reliability(None) is None and parse_credibility("") is None


@pytest.mark.parametrize("bad", ["G", "AA", "1", "b2"])
def test_invalid_reliability_is_refused_by_name(bad):
    with pytest.raises(ValidationError, match="reliability must be one letter A–F"):
        parse_reliability(bad)


@pytest.mark.parametrize("bad", ["0", "7", "A", "2.5", -1])
def test_invalid_credibility_is_refused_by_name(bad):
    with pytest.raises(ValidationError, match="credibility must be a digit 1–6"):
        parse_credibility(bad)


@pytest.mark.parametrize("bad", ["B", "B23", "7B", "G1"])
def test_invalid_joined_codes_are_refused(bad):
    with pytest.raises(ValidationError):
        parse_admiralty(bad)


def test_claim_with_invalid_grade_is_not_stored(ws):
    with pytest.raises(ValidationError, match="credibility"):
        cases.add_claim(ws, "c1", "a claim", reliability="B", credibility=9)
    assert _claim_count(ws) == 0


def test_grading_one_half_keeps_the_other(ws):
    claim = cases.add_claim(ws, "c1", "a claim", reliability="B", credibility=3)
    assert claim.grading == "B3"
    regraded = cases.grade_claim(ws, claim.id, credibility="2", note="second source seen")
    assert (regraded.reliability, regraded.credibility, regraded.grading_note) == (
        "B",
        2,
        "second source seen",
    )
    assert regraded.graded_by == "analyst"
    with pytest.raises(ValidationError):
        cases.grade_claim(ws, claim.id, reliability="Z")
    assert cases.get_claim(ws, claim.id).grading == "B2"


# -- figures, dates, places --------------------------------------------------------


def test_figures_are_ranges_with_units():
    f = parse_figure("10,000-12,000 troops")
    assert (f.low, f.high, f.unit) == (10000, 12000, "troops")
    exact = parse_figure("1500 troops")
    assert exact.low == exact.high == 1500
    up_to = parse_figure("up to 12k troops")
    assert (up_to.low, up_to.high) == (None, 12000)
    assert str(parse_figure("10000 to 12000 soldiers")) == "10,000–12,000 soldiers"


@pytest.mark.parametrize("bad", ["12000-10000 troops", "-5 ships", "", "many troops", "up to 5-9 troops"])
def test_bad_figures_are_refused(bad):
    with pytest.raises(ValidationError):
        parse_figure(bad)


def test_date_ranges_and_impossible_dates():
    assert parse_date_range("2024-10-08/2024-10-13") == ("2024-10-08", "2024-10-13")
    assert parse_date_range("2024-10-08..2024-10-13") == ("2024-10-08", "2024-10-13")
    assert parse_date_range("2024-02") == ("2024-02-01", "2024-02-29")
    assert parse_date_range("2024-10-09") == ("2024-10-09", "2024-10-09")
    with pytest.raises(ValidationError, match="impossible date"):
        parse_date_range("2024-02-30")
    with pytest.raises(ValidationError, match="inverted date range"):
        parse_date_range("2024-10-13/2024-10-08")
    with pytest.raises(ValidationError, match="cannot read date"):
        parse_date_range("yesterday")


def test_places_resolve_offline_with_coordinates():
    vladivostok = cases.resolve_place("Vladivostok")
    assert vladivostok.country_code == "RU"
    assert vladivostok.lat == pytest.approx(43.1, abs=0.1) and vladivostok.lon == pytest.approx(
        131.9, abs=0.1
    )
    # The most populous Donetsk is in Ukraine; a country code picks the other one.
    assert cases.resolve_place("Donetsk").country_code == "UA"
    assert cases.resolve_place("Donetsk, RU").lon == pytest.approx(39.95, abs=0.05)
    pier = cases.resolve_place("North pier @ 41.78, 129.80")
    assert (pier.name, pier.lat, pier.geonameid) == ("North pier", 41.78, None)
    with pytest.raises(ValidationError, match="not in the offline gazetteer"):
        cases.resolve_place("Nowhereville")
    with pytest.raises(ValidationError, match="out of range"):
        cases.resolve_place("x @ 95, 10")


def test_claim_is_all_or_nothing(ws):
    good = dict(figure="1500 troops", quantity="troops sent", dates="2024-10-08/2024-10-13")
    with pytest.raises(ValidationError, match="Nowhereville"):
        cases.add_claim(ws, "c1", "shipped", places=["Vladivostok", "Nowhereville"], **good)
    with pytest.raises(ValidationError, match="inverted"):
        cases.add_claim(ws, "c1", "shipped", figure="2000-1000 troops", quantity="troops sent")
    with pytest.raises(ValidationError, match="quantity"):
        cases.add_claim(ws, "c1", "shipped", figure="1500 troops")
    assert _claim_count(ws) == 0
    claim = cases.add_claim(ws, "c1", "shipped", places=["Vladivostok", "Ussuriysk"], **good)
    assert [p.resolved_name for p in claim.places] == ["Vladivostok", "Ussuriysk"]
    assert (claim.date_from, claim.date_to, claim.figure) == ("2024-10-08", "2024-10-13", "1,500 troops")


def test_claims_about_one_quantity_are_grouped(ws):
    cases.add_claim(ws, "c1", "a", source="NIS", figure="1500 troops", quantity="Troops sent")
    cases.add_claim(ws, "c1", "b", source="President", figure="10000 troops", quantity="troops sent")
    cases.add_claim(ws, "c1", "c", source="Agency", figure="up to 12000 troops", quantity="troops sent")
    cases.add_claim(ws, "c1", "d", source="Report", figure="1.2 million troops", quantity="army size")
    cases.add_claim(ws, "c1", "e", source="Other")
    groups = {g.quantity.lower(): g for g in cases.quantity_groups(cases.case_claims(ws, "c1"))}
    assert set(groups) == {"troops sent", "army size"}
    assert [c.source for c in groups["troops sent"].claims] == ["NIS", "President", "Agency"]
    assert groups["troops sent"].spread == (0.0, 12000)
    assert groups["army size"].claims[0].value_high == 1_200_000


# -- cases -------------------------------------------------------------------------


def test_case_names_are_unique_handles(ws):
    with pytest.raises(ConflictError):
        cases.create_case(ws, "c1")
    assert cases.create_case(ws, "c1", exist_ok=True).title == "Case one"
    with pytest.raises(ValidationError):
        cases.create_case(ws, "has space")
    with pytest.raises(NotFoundError):
        cases.add_claim(ws, "nope", "text")


# -- links and proposed status ----------------------------------------------------


def test_links_propose_a_status_a_person_sets(ws, tmp_path):
    claim = cases.add_claim(ws, "c1", "ships moved")
    assert cases.propose_status(claim) == ("unconfirmed", "no evidence linked")
    a = cases.add_evidence(ws, "c1", [_file(tmp_path, "a.bin", b"a")])[0]
    b = cases.add_evidence(ws, "c1", [_file(tmp_path, "b.bin", b"b")])[0]
    cases.link_claim(ws, claim.id, "supports", evidence=a.sha256, note="ships at the pier")
    assert cases.propose_status(cases.get_claim(ws, claim.id))[0] == "corroborated"
    cases.link_claim(ws, claim.id, "contradicts", evidence=b.sha256[:10], note="pier empty")
    status, reason = cases.propose_status(cases.get_claim(ws, claim.id))
    assert status == "unconfirmed" and "disagrees" in reason
    # The proposal does not change the status: a person does.
    assert cases.get_claim(ws, claim.id).status == "claimed"
    decided = cases.set_status(ws, claim.id, "contradicted", note="the later scene is decisive")
    assert (decided.status, decided.status_by) == ("contradicted", "analyst")
    with pytest.raises(ValidationError):
        cases.set_status(ws, claim.id, "maybe")
    with pytest.raises(ValidationError):
        cases.link_claim(ws, claim.id, "proves", evidence=a.sha256)


def test_linking_is_idempotent_and_logged_in_custody(ws, tmp_path):
    claim = cases.add_claim(ws, "c1", "x")
    ev = cases.add_evidence(ws, "c1", [_file(tmp_path, "a.bin")])[0]
    first = cases.link_claim(ws, claim.id, "supports", evidence=ev.sha256, note="n")
    again = cases.link_claim(ws, claim.id, "supports", evidence=ev.sha256, note="n")
    assert first.id == again.id
    changed = cases.link_claim(ws, claim.id, "context", evidence=ev.sha256, note="on reflection")
    assert changed.id == first.id and changed.relation == "context"
    assert len(cases.get_claim(ws, claim.id).links) == 1
    actions = [(e.action, e.details.get("relation")) for e in cases.custody_log(ws, [ev.sha256])]
    assert actions == [("added", None), ("linked", None), ("linked", "supports"), ("linked", "context")]


def test_records_must_exist_to_be_linked(ws):
    claim = cases.add_claim(ws, "c1", "x")
    with pytest.raises(NotFoundError):
        cases.link_claim(ws, claim.id, "supports", record="match:999")
    with pytest.raises(ValidationError, match="TYPE:ID"):
        cases.link_claim(ws, claim.id, "supports", record="tweet:1")
    with pytest.raises(ValidationError):
        cases.link_claim(ws, claim.id, "supports")


# -- evidence: stored once, integrity, custody -------------------------------------


def test_same_file_twice_is_attached_once(ws, tmp_path):
    f = _file(tmp_path, "photo.jpg", b"\xff\xd8\xff same bytes")
    first = cases.add_evidence(ws, "c1", [f])[0]
    second = cases.add_evidence(ws, "c1", [f])[0]
    assert first.sha256 == second.sha256 and not second.is_new
    assert len(cases.case_evidence(ws, "c1")) == 1
    assert len(ws.list_evidence()) == 1


def test_verify_passes_then_catches_tampering_and_loss(ws, tmp_path):
    a = cases.add_evidence(ws, "c1", [_file(tmp_path, "a.bin", b"original a")])[0]
    b = cases.add_evidence(ws, "c1", [_file(tmp_path, "b.bin", b"original b")])[0]
    assert {r.status for r in cases.verify_evidence(ws)} == {"ok"}

    stored = ws.object_path(a.sha256)
    os.chmod(stored, 0o644)  # originals are read-only; a tamperer has to change that first
    stored.write_bytes(b"original A")
    ws.object_path(b.sha256).unlink()
    results = {r.sha256: r for r in cases.verify_evidence(ws)}
    assert results[a.sha256].status == "modified"
    assert results[a.sha256].actual_sha256 != a.sha256
    assert results[b.sha256].status == "missing"

    log = [(e.action, e.details.get("result")) for e in cases.custody_log(ws, [a.sha256])]
    assert log[-2:] == [("verified", "ok"), ("verified", "modified")]


def test_custody_log_stays_append_only_for_verification_entries(ws, tmp_path):
    cases.add_evidence(ws, "c1", [_file(tmp_path, "a.bin")])
    cases.verify_evidence(ws)
    with pytest.raises(RefusedByDatabase, match="append-only"):
        execute(ws, "update custody_log set details='{\"result\": \"ok\"}' where action='verified'")
    with pytest.raises(RefusedByDatabase, match="append-only"):
        execute(ws, "delete from custody_log where action='verified'")


def test_show_evidence_logs_the_view(ws, tmp_path):
    ev = cases.add_evidence(ws, "c1", [_file(tmp_path, "a.bin")], source="https://example.org/a")[0]
    shown, log = cases.show_evidence(ws, ev.sha256[:12])
    assert shown.sha256 == ev.sha256 and shown.source == "https://example.org/a"
    assert [e.action for e in log][-1] == "viewed"
