"""The face commands, run as a user would."""

import json

from typer.testing import CliRunner

from imint.cli import app

runner = CliRunner()


def test_help_lists_the_face_commands():
    out = runner.invoke(app, ["--help"]).output
    for command in ("enroll", "search", "verify", "cluster", "persons", "candidates", "confirm", "eval"):
        assert command in out


def test_enroll_search_confirm_round_trip(tmp_path, photos, bad_files):
    ws = ["--workspace", str(tmp_path / "ws")]
    r = runner.invoke(app, ["enroll", "Eileen Collins", str(photos["astronaut"]), "--reason", "test", *ws])
    assert r.exit_code == 0, r.output
    assert "1 reference face" in r.output

    out = tmp_path / "results.json"
    r = runner.invoke(
        app, ["search", str(photos["astronaut_crop"]), str(bad_files["text"]), "--json", str(out), *ws]
    )
    assert r.exit_code == 0, r.output
    assert "Eileen" in r.output and "notes.jpg" in r.output
    data = json.loads(out.read_text())
    media = {m["path"].rsplit("/", 1)[-1]: m for m in data["media"]}
    assert media["astronaut_crop.jpg"]["faces"][0]["identity"] == "Eileen Collins"
    assert "not an image" in media["notes.jpg"]["error"]

    r = runner.invoke(app, ["candidates", *ws])
    assert "Eileen" in r.output
    r = runner.invoke(app, ["confirm", "1", "--note", "checked", *ws])
    assert r.exit_code == 0 and "confirmed by" in r.output


def test_verify_and_errors_exit_with_a_message(tmp_path, photos, bad_files):
    ws = ["--workspace", str(tmp_path / "ws")]
    r = runner.invoke(app, ["verify", str(photos["astronaut"]), str(photos["grace_hopper"]), *ws])
    assert r.exit_code == 0 and "not the same person" in r.output
    r = runner.invoke(app, ["verify", str(photos["astronaut"]), str(bad_files["truncated"]), *ws])
    assert r.exit_code == 2
    assert "truncated.jpg" in r.output and "Traceback" not in r.output


def test_commands_are_on_the_audit_record(tmp_path, photos):
    ws = ["--workspace", str(tmp_path / "ws")]
    env = {"IMINT_USER": "ana"}
    assert (
        runner.invoke(app, ["enroll", "Eileen Collins", str(photos["astronaut"]), *ws], env=env).exit_code
        == 0
    )
    assert runner.invoke(app, ["search", str(photos["astronaut_crop"]), *ws], env=env).exit_code == 0
    assert runner.invoke(app, ["confirm", "1", *ws], env=env).exit_code == 0
    r = runner.invoke(app, ["audit", "--json", *ws])
    assert r.exit_code == 0, r.output
    entries = [json.loads(line) for line in r.output.splitlines() if line.strip()]  # JSON lines
    assert {("ana", "enroll"), ("ana", "search"), ("ana", "confirm")} <= {
        (e["actor"], e["action"]) for e in entries
    }
    assert all(e["via"] == "cli" for e in entries)
