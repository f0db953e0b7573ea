"""A part plugs in without a line of the core changed: a command, a route, a record type and a card.

The toy part below keeps analysts' notes on evidence. It is handed to ``Parts.load`` like an
installed plugin would be, and the CLI, the web app, claims and the case report all pick it up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import typer
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from imint import cases
from imint.api.app import create_app
from imint.api.deps import guard
from imint.cases.report import build_report
from imint.cli import make_app
from imint.errors import NotFoundError, ValidationError
from imint.parts import Part, Parts
from imint.report.cards import Card
from imint.workspace import Workspace
from tests.api_support import make_users


class Notes:
    """The toy part's service (``ws.notes``): notes on evidence, kept in memory for the test."""

    store: dict[int, tuple[str, str]] = {}

    def add(self, sha256: str, text: str) -> int:
        note_id = len(self.store) + 1
        self.store[note_id] = (sha256, text)
        return note_id

    def get(self, note_id: int) -> tuple[str, str]:
        if note_id not in self.store:
            raise NotFoundError("no such note", subject=f"note:{note_id}")
        return self.store[note_id]


class NotesPart(Part):
    name = "notes"
    title = "Notes"

    def __init__(self) -> None:
        self.parts: Parts | None = None  # the set this part was loaded in, for its command's workspace

    def service(self, ws: Workspace) -> Notes:
        return Notes()

    def commands(self, app: typer.Typer, eval_app: typer.Typer) -> None:
        @app.command("note")
        def note(
            sha256: str, text: str, workspace: Annotated[Path, typer.Option("--workspace", "-w")]
        ) -> None:
            """Keep a note on a piece of evidence."""
            ws = Workspace(workspace, parts=self.parts)
            typer.echo(f"note:{ws.notes.add(ws.evidence(sha256).sha256, text)}")

    def routers(self) -> list[APIRouter]:
        router = APIRouter()

        @router.get("/notes/{note_id}", **guard("viewer"))
        def read_note(request: Request, note_id: int) -> dict[str, str]:
            sha256, text = request.app.state.ws.notes.get(note_id)
            return {"evidence": sha256, "text": text}

        return [router]

    def record_types(self):  # noqa: ANN201
        return {"note": lambda _session, note_id: Notes.store.get(note_id, (None, ""))[0]}

    def cards(self):  # noqa: ANN201
        def render(ws: Workspace, link, evidence) -> Card:  # noqa: ANN001
            return Card(
                title=f"Note {link.record_id}",
                sha256=evidence.sha256,
                person=[ws.notes.get(link.record_id)[1]],
            )

        return {"note": render}


def test_a_toy_part_plugs_into_the_cli_the_web_app_claims_and_the_report(tmp_path: Path) -> None:
    Notes.store.clear()
    toy = NotesPart()
    parts = toy.parts = Parts.load([toy], entry_points=False)
    ws_path = tmp_path / "ws"
    tokens = make_users(ws_path)
    ws = Workspace(ws_path, user="analyst", parts=parts)
    photo = tmp_path / "pier.png"
    Image.fromarray(data.astronaut()).save(photo)
    cases.create_case(ws, "port")
    (evidence,) = cases.add_evidence(ws, "port", [photo])

    # A command of the part's own, next to the built-in ones.
    result = CliRunner().invoke(
        make_app(parts), ["note", evidence.sha256[:12], "crane moved", "-w", str(ws_path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "note:1"
    assert "note" not in {c.name for c in make_app().registered_commands}  # only where it was loaded

    # Its route, behind the same authentication as every other.
    with TestClient(create_app(ws_path, parts=parts)) as client:
        assert client.get("/notes/1").status_code == 401
        answer = client.get("/notes/1", headers={"Authorization": f"Bearer {tokens['viewer']}"})
        assert answer.json() == {"evidence": evidence.sha256, "text": "crane moved"}
        assert (
            client.get("/notes/9", headers={"Authorization": f"Bearer {tokens['viewer']}"}).status_code == 404
        )

    # A claim links its record, and the report shows the part's card for it.
    claim = cases.add_claim(ws, "port", "the crane was moved in May")
    link = cases.link_claim(ws, claim.id, "supports", record="note:1")
    assert (link.record_type, link.record_id, link.evidence_sha256) == ("note", 1, evidence.sha256)
    html = build_report(ws, "port", html_path=tmp_path / "r.html", pdf=False).html.read_text()
    assert "Note 1" in html and "crane moved" in html
    ws.close()


def test_a_workspace_without_the_part_knows_nothing_of_it(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    assert "notes" not in ws.parts.names()
    with pytest.raises(AttributeError, match="notes"):
        ws.notes  # noqa: B018
    cases.create_case(ws, "port")
    claim = cases.add_claim(ws, "port", "the crane was moved in May")
    with pytest.raises(ValidationError, match="TYPE:ID with TYPE one of"):
        cases.link_claim(ws, claim.id, "supports", record="note:1")
    ws.close()
