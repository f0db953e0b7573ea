"""The sample case that ``make run`` builds: ``imint demo --workspace ./imint-demo``.

It uses only material that may be redistributed and that is already on the
machine: the claims of a public news report (in our words, ``claims.py``),
public-domain photos shipped inside installed packages (matplotlib's portrait of
Grace Hopper, US Navy; scikit-image's astronaut Eileen Collins, NASA) and SAR
scenes of a port on two dates that the sites part SIMULATES. It runs face search,
ship detection and change detection, links what they found to the claims, and
writes ``report.html`` and ``report.pdf`` into the workspace.

Running it again reuses what is there: evidence is stored by hash, claims are
matched by text, links and enrolments are idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imint import cases
from imint.cases.report import build_report
from imint.cli_common import console, err_console
from imint.demo.claims import CASE_NAME, CASE_SUMMARY, CASE_TITLE, CLAIMS
from imint.errors import ImintError
from imint.report.browser import BrowserError
from imint.report.html import ReportPaths
from imint.settings import Settings
from imint.workspace import Workspace

STAND_IN_NOTE = (
    "Stand-in photo: this person has nothing to do with the case; the photo shows how face candidates, their "
    "false-match rates and their review state appear in a report."
)


@dataclass
class DemoRun:
    workspace: Path
    claim_ids: dict[str, int] = field(default_factory=dict)
    material: dict[str, Path] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)  # material key -> sha256
    skipped: list[str] = field(default_factory=list)  # steps that could not run, with the reason
    html: Path | None = None
    pdf: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


# -- material ----------------------------------------------------------------------


def _write_if_changed(path: Path, data: bytes) -> Path:
    """Write bytes atomically unless the file already holds them (keeps re-runs idempotent)."""
    if path.exists() and path.read_bytes() == data:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _png_bytes(img: Any) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _jpeg_bytes(img: Any, quality: int = 85) -> bytes:
    import io

    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def prepare_photos(material_dir: Path) -> dict[str, Path]:
    """Public-domain photos from installed packages, plus working copies made from them.

    We have one portrait of each person, so the 'other photos' searched are derived
    from them (mirrored and rescaled; a two-person montage). The report says so.
    """
    from matplotlib import cbook
    from PIL import Image, ImageOps
    from skimage import data

    hopper_src = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    out: dict[str, Path] = {}
    out["hopper"] = _write_if_changed(material_dir / "grace_hopper.jpg", hopper_src.read_bytes())
    hopper = Image.open(hopper_src).convert("RGB")
    astronaut = Image.fromarray(data.astronaut())
    out["astronaut"] = _write_if_changed(material_dir / "astronaut_eileen_collins.png", _png_bytes(astronaut))
    variant = ImageOps.mirror(hopper).resize((hopper.width * 3 // 4, hopper.height * 3 // 4))
    out["hopper_variant"] = _write_if_changed(
        material_dir / "grace_hopper_mirrored_working_copy.jpg", _jpeg_bytes(variant, 80)
    )
    height = 420
    left = hopper.resize((round(hopper.width * height / hopper.height), height))
    right = astronaut.resize((round(astronaut.width * height / astronaut.height), height))
    montage = Image.new("RGB", (left.width + right.width + 20, height), "white")
    montage.paste(left, (0, 0))
    montage.paste(right, (left.width + 20, 0))
    out["montage"] = _write_if_changed(material_dir / "montage_two_people.jpg", _jpeg_bytes(montage, 85))
    return out


# -- steps -------------------------------------------------------------------------


def add_claims(ws: Workspace) -> dict[str, int]:
    """Add the sample claims that are not there yet (matched by text), set their status."""
    existing = {c.text: c.id for c in cases.case_claims(ws, CASE_NAME)}
    ids: dict[str, int] = {}
    for spec in CLAIMS:
        if spec["text"] in existing:
            ids[spec["key"]] = existing[spec["text"]]
            continue
        fields = {k: v for k, v in spec.items() if k not in ("key", "text", "status_note")}
        claim = cases.add_claim(ws, CASE_NAME, spec["text"], **fields)
        if spec.get("status_note"):
            cases.set_status(ws, claim.id, spec["status"], note=spec["status_note"])
        ids[spec["key"]] = claim.id
    return ids


PHOTO_SOURCES = {
    "hopper": "matplotlib sample data grace_hopper.jpg: Rear Admiral Grace Hopper, US Navy photo (public domain)",
    "astronaut": "scikit-image data.astronaut(): astronaut Eileen Collins, NASA photo (public domain)",
    "hopper_variant": "working copy made by imint demo from grace_hopper.jpg (mirrored, scaled to 75 %)",
    "montage": "working copy made by imint demo: montage of grace_hopper.jpg and data.astronaut()",
}


def face_step(ws: Workspace, run: DemoRun) -> None:
    """Enroll Grace Hopper from her portrait, search the other photos, link candidates to claim 4."""
    enrol = ws.enroll(
        "Grace Hopper",
        [run.material["hopper"]],
        notes="Stand-in person for the sample case (public-domain US Navy portrait).",
        listing_source="imint demo",
        listing_reason="demonstration only",
    )
    for problem in enrol.problems:
        err_console.print(f"[yellow]enroll:[/] {problem}")
    searched = [run.material[k] for k in ("hopper_variant", "montage", "astronaut")]
    results = ws.search(searched, annotate_dir=run.workspace / "exports" / "faces")
    claim = run.claim_ids["officers-donetsk"]
    for result in results:
        if result.error or result.evidence is None:
            err_console.print(f"[yellow]face search:[/] {result.path}: {result.error}")
            continue
        for face in result.faces:
            best = face.best
            if best is None:
                cases.link_claim(
                    ws,
                    claim,
                    "context",
                    record=("face", face.face_id),
                    note=f"{STAND_IN_NOTE} Face search: no enrolled person above the operating point.",
                )
                continue
            cases.link_claim(ws, claim, "context", record=("candidate", best.id), note=STAND_IN_NOTE)


SITE_NAME = "vladivostok-port-SIMULATED"
SCENE_DATES = ("2024-10-07", "2024-10-14")  # the days before and after the claimed shipment (8-13 Oct)
SIMULATED_NOTE = (
    "SIMULATED SAR scenes generated by imint, not satellite acquisitions: they show how imagery that bears on "
    "this claim appears in a report, and are no evidence about the real events."
)


def sites_step(ws: Workspace, run: DemoRun) -> None:
    """Simulated SAR of a port on two dates: ships detected, changes between the dates, linked to claims."""
    from imint.sites import add_scene, add_site, detect_ships, get_site, stored_detections
    from imint.sites.synthetic import make_port_pair

    scenes_dir = run.workspace / "material" / "sar-SIMULATED"
    paths = [scenes_dir / f"port_{day}.tif" for day in SCENE_DATES]
    if not all(p.exists() for p in paths):
        # Seeded: the same bytes every run, so a re-run finds the scenes already stored.
        make_port_pair(scenes_dir, dates=SCENE_DATES, seed=7, center=(131.90, 43.08))
    place = cases.resolve_place("Vladivostok")
    try:
        get_site(ws, SITE_NAME)
    except ImintError:
        add_site(
            ws,
            SITE_NAME,
            point=(131.90, 43.08),
            radius_m=6000,
            notes=f"SIMULATED port scenes near {place.resolved_name}; demonstration only.",
        )
    scenes = []
    for path in paths:
        scene = add_scene(ws, path, site=SITE_NAME, modality="SAR")
        if not stored_detections(ws, scene):
            detect_ships(ws, scene)
        cases.attach_evidence(ws, CASE_NAME, scene.evidence_sha256, note=SIMULATED_NOTE)
        scenes.append(scene)
    shipped = run.claim_ids["shipped-1500"]
    imagery = run.claim_ids["imagery-published"]
    for scene in scenes:
        cases.link_claim(
            ws, imagery, "context", record=("scene", scene.id), note=f"{SIMULATED_NOTE} Ships detected."
        )
    cases.link_claim(
        ws,
        shipped,
        "supports",
        record=("change", scenes[-1].id),
        note=f"{SIMULATED_NOTE} In the simulation, ships arrive at the port between the two dates.",
    )


BASE_NAME = "ussuriysk-base-SIMULATED"
BASE_AREA = "vehicle park"
BASE_DATES = (
    "2024-09-16",
    "2024-09-23",
    "2024-09-30",
    "2024-10-04",
    "2024-10-09",
    "2024-10-12",
    "2024-10-20",
)
CLAIM_DATES = ("2024-10-08", "2024-10-13")  # the shipment the news report describes
BASE_PARK_PX = (100, 220)  # the vehicle park: a square of pixels (columns = rows) on the simulated grid
BASE_NOTE = (
    "SIMULATED SAR scenes of a base generated by imint, not satellite acquisitions: vehicles were added to the "
    "vehicle park on the two dates inside the claimed window, to show how an activity series appears in a "
    "report. No evidence about the real events."
)


def _base_vehicles(rng: Any, n: int) -> list[dict[str, float]]:
    lo, hi = BASE_PARK_PX
    return [
        {
            "col": float(rng.uniform(lo + 10, hi - 10)),
            "row": float(rng.uniform(lo + 10, hi - 10)),
            "length_m": 20.0,
            "heading_deg": float(rng.uniform(0, 180)),
            "sigma0": 8.0,
        }
        for _ in range(n)
    ]


def base_step(ws: Workspace, run: DemoRun) -> None:
    """Simulated SAR of a base on 7 dates, a vehicle park as area of interest, its activity series."""
    import numpy as np

    from imint.sites import add_scene, add_site, geo, get_site
    from imint.sites.areas import add_area, list_areas
    from imint.sites.synthetic import make_sar_scene

    place = cases.resolve_place("Ussuriysk")
    center = (place.lon, place.lat)
    folder = run.workspace / "material" / "sar-base-SIMULATED"
    rng = np.random.default_rng(11)  # seeded: the same bytes every run
    truths = []
    for d, day in enumerate(BASE_DATES):
        busy = CLAIM_DATES[0] <= day <= CLAIM_DATES[1]
        ships = _base_vehicles(rng, 12 if busy else 1)  # one vehicle always there; a dozen in the window
        path = folder / f"base_{day}.tif"
        if path.exists():
            truths.append(path)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        scene = make_sar_scene(
            path, width=400, height=400, ships=ships, land=False, seed=60 + d, date=day, center=center
        )
        truths.append(scene.path)
    try:
        get_site(ws, BASE_NAME)
    except ImintError:
        add_site(
            ws, BASE_NAME, point=center, radius_m=2500, notes=f"SIMULATED base near {place.resolved_name}."
        )
    scenes = [add_scene(ws, path, site=BASE_NAME, modality="SAR") for path in truths]
    for scene in scenes:
        cases.attach_evidence(ws, CASE_NAME, scene.evidence_sha256, note=BASE_NOTE)
    if not any(a.name == BASE_AREA for a in list_areas(ws, BASE_NAME)):
        first = scenes[0]
        lo, hi = BASE_PARK_PX
        lon, lat = geo.pixel_to_lonlat(
            first.crs, first.transform, np.array([lo, hi, hi, lo, lo]), np.array([lo, lo, hi, hi, lo])
        )
        ring = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
        add_area(
            ws,
            BASE_NAME,
            BASE_AREA,
            {"type": "Polygon", "coordinates": [ring]},
            notes="SIMULATED vehicle park",
        )
    cases.link_claim(
        ws,
        run.claim_ids["disguised-training"],
        "context",
        record=("activity", scenes[-1].id),
        note=f"{BASE_NOTE} Activity index of the vehicle park per date.",
    )


def _step(run: DemoRun, name: str, fn: Callable[[], None]) -> None:
    """Run one analysis step; a step that cannot run is reported and the case is still built."""
    start = time.perf_counter()
    console.print(f"[bold]·[/] {name}")
    try:
        fn()
    except (ImportError, NotImplementedError, ImintError, RuntimeError) as exc:
        run.skipped.append(f"{name}: {exc}")
        err_console.print(f"[yellow]  skipped {name}:[/] {exc}")
    run.timings[name] = time.perf_counter() - start


def run_demo(
    workspace: str | Path = "imint-demo", *, pdf: bool = True, settings: Settings | None = None
) -> DemoRun:
    """Build (or bring up to date) the sample case and its report in ``workspace``.

    ``settings`` (the command's: a database URL, say) are those of the workspace built.
    """
    started = time.perf_counter()
    ws = Workspace(workspace, settings=settings)
    run = DemoRun(ws.path)
    console.print(f"Building the sample case in [bold]{ws.path}[/]")
    cases.create_case(ws, CASE_NAME, title=CASE_TITLE, summary=CASE_SUMMARY, exist_ok=True)
    run.claim_ids = add_claims(ws)
    console.print(f"[bold]·[/] {len(run.claim_ids)} claims graded and placed")

    material_dir = ws.path / "material"
    run.material.update(prepare_photos(material_dir))
    for key, path in list(run.material.items()):
        (ev,) = cases.add_evidence(ws, CASE_NAME, [path], source=PHOTO_SOURCES[key], note=STAND_IN_NOTE)
        run.evidence[key] = ev.sha256

    _step(run, "face search (stand-in photos)", lambda: face_step(ws, run))
    _step(run, "ship and change detection (SIMULATED SAR)", lambda: sites_step(ws, run))
    _step(run, "activity at a base (SIMULATED SAR)", lambda: base_step(ws, run))

    start = time.perf_counter()
    html, pdf_path = ws.path / "report.html", ws.path / "report.pdf"
    try:
        paths = cases_report(ws, html, pdf_path if pdf else None)
    except BrowserError as exc:  # no Chromium here: still give the HTML report, and say why no PDF
        run.skipped.append(f"PDF report: {exc}")
        paths = cases_report(ws, html, None)
    run.html, run.pdf = paths.html, paths.pdf
    run.timings["report"] = time.perf_counter() - start
    for err in paths.console_errors:
        err_console.print(f"[yellow]report page reported:[/] {err}")

    console.print()
    console.print(f"Report (HTML): [bold]{run.html}[/]")
    if run.pdf:
        console.print(f"Report (PDF):  [bold]{run.pdf}[/]")
    console.print(
        f"Web UI:        imint serve --workspace {_shell_path(workspace)}   (then open the address it prints)"
    )
    steps = ", ".join(f"{name.split(' (')[0]} {seconds:.1f} s" for name, seconds in run.timings.items())
    console.print(f"Built in {time.perf_counter() - started:.0f} s ({steps}).")
    if run.skipped:
        console.print("[yellow]Steps that did not run:[/] " + "; ".join(run.skipped))
    return run


def cases_report(ws: Workspace, html: Path, pdf: Path | None) -> ReportPaths:
    return build_report(ws, CASE_NAME, html_path=html, pdf_path=pdf, html=True, pdf=pdf is not None)


def _shell_path(path: str | Path) -> str:
    text = str(path)
    return text if text.startswith(("/", ".", "~")) else f"./{text}"
