"""The case report draws every card through the parts: a part added at run time brings its own."""

from PIL import Image
from skimage import data

from imint import cases
from imint.cases.report import build_report
from imint.parts import Part, Parts
from imint.report.cards import Card
from imint.workspace import Workspace


class StampsPart(Part):
    """A toy part: stamp records (``stamp:ID`` lives on one evidence file) and a stamp card per file."""

    name = "stamps"
    title = "Stamps"

    def __init__(self) -> None:
        self.evidence_of: dict[int, str] = {}

    def record_types(self):  # noqa: ANN201
        return {"stamp": lambda _session, record_id: self.evidence_of.get(record_id)}

    def cards(self):  # noqa: ANN201
        def render(ws, link, evidence):  # noqa: ANN001, ANN202
            if link.record_id == 13:
                raise RuntimeError("unlucky stamp")
            card = Card(title=f"Stamp {link.record_id} on {evidence.original_name}", sha256=evidence.sha256)
            card.machine.append("a stamp was recognised")
            card.method.append("Stamp recogniser 0.1")
            return card

        return {"stamp": render}

    def evidence_cards(self, ws, evidence):  # noqa: ANN001, ANN201
        return [Card(title=f"Stamp survey of {evidence.original_name}", sha256=evidence.sha256)]


def test_a_part_added_at_run_time_renders_its_records_and_evidence_cards(tmp_path):
    stamps = StampsPart()
    ws = Workspace(tmp_path / "ws", user="analyst", parts=Parts.load([stamps], entry_points=False))
    photo = tmp_path / "letter.png"
    Image.fromarray(data.astronaut()).save(photo)
    cases.create_case(ws, "post")
    (ev,) = cases.add_evidence(ws, "post", [photo], source="a letter")
    stamps.evidence_of.update({7: ev.sha256, 13: ev.sha256})
    claim = cases.add_claim(ws, "post", "the letter was posted in 1969")
    cases.link_claim(ws, claim.id, "supports", record="stamp:7", note="postmark")
    cases.link_claim(ws, claim.id, "context", record="stamp:13")
    cases.link_claim(ws, claim.id, "context", evidence=ev.sha256)

    html = build_report(ws, "post", html_path=tmp_path / "r.html", pdf=False).html.read_text()
    text = " ".join(html.split())
    assert "Stamp 7 on letter.png" in text and "a stamp was recognised" in text
    assert "Linked as <i>supports</i> by analyst" in text and "postmark" in text
    assert "Stamp recogniser 0.1" in text  # a card's method reaches the method section
    # A renderer that fails gives the plain evidence card with the failure, not a missing report.
    assert "could not render stamp:13: unlucky stamp" in text
    # Evidence linked as a whole file gets the plain evidence card (its facts: the file's hash).
    assert text.count(f'<dd class="hash">{ev.sha256}</dd>') >= 2
    # Every part may add cards to each piece of evidence; they are not links, so no "Linked as".
    survey = text.index("Stamp survey of letter.png")
    assert text.index('id="register"') < survey < text.index('id="custody"')
    assert "Linked as" not in text[survey : text.index('id="custody"')]
    ws.close()


def test_the_register_shows_only_the_cards_parts_add(tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(data.astronaut()).save(photo)
    # Without a part that adds per-evidence cards, the register lists the files and nothing more.
    no_checks = Parts([p for p in Parts.load(entry_points=False) if p.name != "checks"])
    for parts, expected in ((no_checks, False), (Parts.load(entry_points=False), True)):
        ws = Workspace(tmp_path / f"ws-{expected}", user="analyst", parts=parts)
        cases.create_case(ws, "plain")
        cases.add_evidence(ws, "plain", [photo])
        html = build_report(ws, "plain", html_path=tmp_path / "r.html", pdf=False).html.read_text()
        register = html[html.index('id="register"') : html.index('id="custody"')]
        # The built-in checks part runs its cheap checks at ingest and shows them as a card.
        assert ('class="card' in register) is expected
        assert ("Checks on p.png" in register) is expected
        ws.close()
