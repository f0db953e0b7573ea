"""The cases commands, as a user types them."""

import json
import os

from typer.testing import CliRunner

from imint.cli import app

runner = CliRunner()


def imint(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_case_from_the_command_line(tmp_path):
    ws = tmp_path / "ws"
    photo = tmp_path / "port.jpg"
    photo.write_bytes(b"\xff\xd8\xff not really a jpeg, a document then")
    assert imint("case", "new", "dprk", "--title", "Troops", "-w", ws).exit_code == 0

    r = imint(
        "claim", "add", "dprk", "1,500 troops shipped to Vladivostok",
        "--source", "NIS", "--grade", "B2", "--figure", "1500 troops", "--quantity", "troops sent",
        "--dates", "2024-10-08/2024-10-13", "--place", "Vladivostok", "-w", ws,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "claim #1 added, graded B2" in r.output and "Vladivostok (43.106, 131.874)" in r.output

    r = imint("evidence", "add", photo, "--case", "dprk", "--source", "https://example.org/p", "-w", ws)
    assert r.exit_code == 0, r.output
    sha = json.loads(imint("case", "show", "dprk", "--json", "-w", ws).output)["evidence"][0]["sha256"]

    r = imint("claim", "link", "1", "supports", "--evidence", sha[:12], "--note", "ships at pier", "-w", ws)
    assert r.exit_code == 0, r.output
    assert imint("claim", "grade", "1", "C3", "-w", ws).exit_code == 0
    assert imint("claim", "status", "1", "corroborated", "-w", ws).exit_code == 0

    shown = json.loads(imint("case", "show", "dprk", "--json", "-w", ws).output)
    claim = shown["claims"][0]
    assert (claim["grading"], claim["status"], claim["proposed_status"]) == (
        "C3",
        "corroborated",
        "corroborated",
    )
    assert claim["links"][0]["note"] == "ships at pier"
    assert "dprk" in imint("case", "list", "-w", ws).output

    r = imint("evidence", "show", sha[:12], "--json", "-w", ws)
    actions = [e["action"] for e in json.loads(r.output)["custody"]]
    # added, then the checks run at ingest (`checked`), then attached to the case; the show is on record
    assert actions[:3] == ["added", "checked", "linked"] and actions[-1] == "viewed"


def test_bad_input_is_refused_with_a_clear_message(tmp_path):
    ws = tmp_path / "ws"
    imint("case", "new", "c", "-w", ws)
    r = imint("claim", "add", "c", "x", "--grade", "G9", "-w", ws)
    assert r.exit_code == 2 and "reliability must be one letter A–F" in r.output
    r = imint("claim", "add", "c", "x", "--dates", "2024-02-30", "-w", ws)
    assert r.exit_code == 2 and "impossible date" in r.output
    r = imint("claim", "add", "c", "x", "--figure", "12000-10000 troops", "--quantity", "q", "-w", ws)
    assert r.exit_code == 2 and "inverted range" in r.output
    r = imint("claim", "grade", "42", "B2", "-w", ws)
    assert r.exit_code == 3 and "claim 42" in r.output
    assert json.loads(imint("case", "show", "c", "--json", "-w", ws).output)["claims"] == []


def test_verify_exits_non_zero_on_a_modified_original(tmp_path):
    ws = tmp_path / "ws"
    f = tmp_path / "a.txt"
    f.write_text("the original")
    imint("evidence", "add", f, "-w", ws)
    r = imint("evidence", "verify", "-w", ws)
    assert r.exit_code == 0 and "1 of 1 originals intact" in r.output

    stored = next(p for p in (ws / "objects").rglob("*") if p.is_file())
    os.chmod(stored, 0o644)
    stored.write_text("the 0riginal")
    r = imint("evidence", "verify", "--json", "-w", ws)
    assert r.exit_code == 6
    assert json.loads(r.output)[0]["status"] == "modified"


def test_report_command_writes_the_html(tmp_path):
    ws = tmp_path / "ws"
    imint("case", "new", "c", "--title", "A case", "-w", ws)
    imint("claim", "add", "c", "a claim", "--grade", "A1", "-w", ws)
    out = tmp_path / "out" / "c.html"
    r = imint("report", "c", "--no-pdf", "--out", out, "-w", ws)
    assert r.exit_code == 0, r.output
    assert out.exists() and not out.with_suffix(".pdf").exists()
    assert "a claim" in out.read_text()
    r = imint("report", "c", "--no-pdf", "--no-html", "-w", ws)
    assert r.exit_code == 2 and "nothing to write" in r.output
