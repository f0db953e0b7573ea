"""Face commands: enroll, search, verify, cluster, persons, candidates, eval faces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from imint.cli_common import (
    DEFAULT_WS,
    WorkspaceOpt,
    audit,
    console,
    err_console,
    handle_errors,
    open_workspace,
    progress,
    write_json,
)
from imint.faces.annotate import fmr_label
from imint.faces.calibration import DEFAULT_FMR, DEFAULT_FPIR
from imint.faces.near_copies import first_seen_label


def _ws(path: Path):  # noqa: ANN202
    return open_workspace(path)


def _warn_other_models(ws) -> None:  # noqa: ANN001
    """Say so when faces stored under another model are left out (their vectors do not compare)."""
    from imint.faces.reembed import other_model_faces

    others = other_model_faces(ws.faces)
    if others:
        listed = ", ".join(f"{n} under {m}" for m, n in sorted(others.items()))
        err_console.print(
            f"[yellow]note:[/] {sum(others.values())} stored photo face(s) of other models are not "
            f"searched by {ws.faces.model_id} ({listed}); run `imint reembed` to carry them over"
        )


def _bar(prog, description: str):  # noqa: ANN001, ANN202
    task = prog.add_task(description, total=None)

    def update(done: int, total: int, item: str) -> None:
        prog.update(task, completed=done, total=total, description=f"{description} {Path(item).name[:40]}")

    return update


class _PhotoBar:
    """A progress bar over the photos of a search, closed when they are done (the call with
    ``done == total`` and no item), so that the video search after them can show its own."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._live = None
        self._update = None

    def __call__(self, done: int, total: int, item: str) -> None:
        if self._live is None:
            self._live = progress()
            self._update = _bar(self._live.__enter__(), self.description)
        self._update(done, total, item)
        if done >= total and not item:
            self._live.__exit__(None, None, None)
            self._live = None


persons_app = typer.Typer(
    help="List, rename and remove enrolled persons; manage watchlists.", no_args_is_help=True
)
clusters_app = typer.Typer(
    help="Review clusters of unknown faces: list, rename, merge, split, promote.", no_args_is_help=True
)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("enroll")(enroll)
    app.command("search")(search)
    app.command("verify")(verify)
    app.command("ingest")(ingest)
    app.command("find")(find)
    app.command("cluster")(cluster)
    app.command("candidates")(candidates)
    app.command("confirm")(confirm)
    app.command("reject")(reject)
    app.command("reembed")(reembed)
    app.add_typer(persons_app, name="persons")
    app.add_typer(clusters_app, name="clusters")
    eval_app.command("faces")(eval_faces)


@handle_errors
def enroll(
    name: Annotated[str, typer.Argument(help="The person's name, e.g. 'Jane Doe'.")],
    photos: Annotated[list[Path], typer.Argument(help="Reference photos or folders of them.")],
    alias: Annotated[list[str], typer.Option("--alias", help="Another name (repeatable).")] = [],  # noqa: B006
    notes: Annotated[str, typer.Option(help="Free notes about the person.")] = "",
    source: Annotated[str, typer.Option(help="Who asked for the listing.")] = "",
    reason: Annotated[str, typer.Option(help="Why the person is listed.")] = "",
    watchlist: Annotated[str | None, typer.Option(help="Also add the person to this watchlist.")] = None,
    face: Annotated[str, typer.Option(help="Which face of a photo: 'largest' or 'center'.")] = "largest",
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Enroll a person of interest from reference photos (poor-quality faces are refused)."""
    ws = _ws(workspace)
    with progress() as prog:
        result = ws.faces.enroll(
            name,
            photos,
            aliases=alias,
            notes=notes,
            listing_source=source,
            listing_reason=reason,
            watchlist=watchlist,
            face_choice=face,
            progress=_bar(prog, "enrolling"),
        )
    audit(
        ws, "enroll", result.name, references_added=result.references_added, photos=[str(p) for p in photos]
    )
    console.print(
        f"[green]enrolled[/] {result.name} (person {result.person_id}): "
        f"{result.references_added} reference face(s) added"
    )
    for p in result.problems:
        console.print(f"  [yellow]note:[/] {p}")
    if result.retro_candidates:
        console.print(
            f"retro-hunt: {result.retro_candidates} new candidate(s) in the back catalogue queued for review"
        )


@handle_errors
def search(
    paths: Annotated[list[Path], typer.Argument(help="Photos, videos, or folders searched recursively.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.")] = None,
    fpir: Annotated[
        float, typer.Option(help="Operating point: share of strangers allowed to return anyone.")
    ] = DEFAULT_FPIR,
    top_k: Annotated[int, typer.Option("--top-k", help="Candidates listed per face.")] = 5,
    watchlist: Annotated[str | None, typer.Option(help="Search only this watchlist's persons.")] = None,
    annotate_dir: Annotated[
        Path | None, typer.Option(help="Folder for annotated images [default: WORKSPACE/exports/annotated].")
    ] = None,
    no_annotate: Annotated[
        bool, typer.Option("--no-annotate", help="Do not write annotated images.")
    ] = False,
    fps: Annotated[
        float, typer.Option(help="Videos: frames analysed per second of video (by timestamp).")
    ] = 5.0,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Find enrolled people in photos and videos: candidates with calibrated FMRs, or 'unknown'.

    Videos (by content, or by suffix inside folders) give appearances: time spans of
    face tracks, each searched as a whole, with an annotated MP4 and a contact sheet.
    """
    if not 0 < fpir < 1:
        raise typer.BadParameter("FPIR must be between 0 and 1", param_hint="--fpir")
    from imint.media.sniff import sort_media

    ws = _ws(workspace)
    _warn_other_models(ws)
    out_dir = None if no_annotate else (annotate_dir or ws.exports_dir / "annotated")
    # Photos and videos are sorted as the library sorts them; the videos go first through the video
    # part's command-line half (a bar per video and a table of appearances), then the photos.
    photos, videos = sort_media(paths)
    video_json: list = []
    if videos:
        from imint.faces.video.cli import search_videos

        video_json = search_videos(
            ws, videos, fpir=fpir, k=top_k, watchlist=watchlist, fps=fps, out_dir=out_dir
        )
        if not photos:
            if json_out:
                write_json(json_out, video_json[0] if len(video_json) == 1 else video_json)
                console.print(f"JSON: {json_out}")
            return
    results = ws.faces.search(
        photos,
        fpir=fpir,
        k=top_k,
        watchlist=watchlist,
        annotate_dir=out_dir,
        with_videos=False,
        progress=_PhotoBar("searching"),
    )
    audit(ws, "search", ", ".join(map(str, paths)), files=len(results), fpir=fpir, watchlist=watchlist)
    table = Table(title=f"Faces found (operating point FPIR {fpir:g})")
    for col in ("file", "face", "quality", "identity", "score", "FMR", "status"):
        table.add_column(col)
    for r in results:
        if r.error:
            continue
        # A searched copy of an earlier searched photo is named as such (one picture, listed once).
        name = Path(r.path).name + (f" (copy of {Path(r.copy_of).name})" if r.copy_of else "")
        if not r.faces:
            table.add_row(name, "-", "", "no face", "", "", "")
        for i, f in enumerate(r.faces):
            best = f.best
            table.add_row(
                name,
                str(i + 1),
                f.quality_reason,
                best.person_name if best else ("[dim]flagged[/]" if f.poor else "unknown"),
                f"{best.score:.3f}" if best else "",
                fmr_label(best.fmr) if best else "",
                best.status if best else "",
            )
    console.print(table)
    for r in results:
        if r.near_copies and r.copy_of is None:
            console.print(f"{Path(r.path).name}: {first_seen_label(r.near_copies)}")
    bad = [r for r in results if r.error]
    if bad:
        err_console.print(f"[yellow]{len(bad)} file(s) could not be searched:[/]")
        for r in bad:
            err_console.print(f"  {r.error}")
    if out_dir is not None and any(r.annotated_path for r in results):
        console.print(f"annotated images: {out_dir}")
    if json_out:
        data = {"operating_point": f"fpir={fpir:g}", "media": [r.to_dict() for r in results]}
        if video_json:
            data["videos"] = video_json
        write_json(json_out, data)
        console.print(f"JSON: {json_out}")


@handle_errors
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Photos, videos, or folders read recursively.")],
    workers: Annotated[
        int, typer.Option(help="Worker processes that analyse photos (0: this process alone).")
    ] = 0,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Analyse photos as Ray tasks on this cluster (host:port or auto; env IMINT_RAY_ADDRESS).",
        ),
    ] = None,
    fps: Annotated[float, typer.Option(help="Videos: frames analysed per second of video.")] = 5.0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run's report as JSON here.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add a collection and analyse every face once (resumable: a re-run skips what was analysed).

    Later `imint search` and `imint find` reuse this analysis; nothing is matched here.
    """
    ws = _ws(workspace)
    with progress() as prog:
        report = ws.faces.ingest(
            paths,
            workers=workers,
            ray_address=ws.settings.ray_address if ray is None else ray,
            fps=fps,
            progress=_bar(prog, "analysing photos"),
            video_progress=_bar(prog, "analysing videos"),
        )
    audit(ws, "ingest", ", ".join(map(str, paths)), **report.to_dict())
    how = f"Ray {report.ray_address}" if report.ray_address else f"{workers} worker(s)"
    console.print(
        f"[green]ingested[/] {report.photos} photo(s), {report.videos} video(s): {report.analysed} analysed now, "
        f"{report.reused} analysed before; {report.faces} face(s) in {report.seconds:.1f} s "
        f"({report.faces_per_second:.1f} faces/s, {how}); {report.video_tracks} video track(s)"
    )
    if report.bad:
        err_console.print(f"[yellow]{len(report.bad)} file(s) could not be analysed:[/]")
        for _, why in report.bad:
            err_console.print(f"  {why}")
    if json_out:
        write_json(json_out, report.to_dict())
        console.print(f"JSON: {json_out}")


@handle_errors
def find(
    name: Annotated[str | None, typer.Argument(help="An enrolled person's name.")] = None,
    face: Annotated[
        int | None, typer.Option("--face", help="Instead: a stored face id (an unknown).")
    ] = None,
    photo: Annotated[
        Path | None, typer.Option("--photo", help="Instead: a photo (its largest face; an unknown).")
    ] = None,
    fpir: Annotated[
        float,
        typer.Option(help="Operating point: chance that the search returns any stranger in the collection."),
    ] = DEFAULT_FPIR,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the appearances as JSON here.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Where else does this person appear? Every stored face above the collection-size operating point.

    For a person, each appearance is queued as a candidate for review (never confirmed here).
    """
    if not 0 < fpir < 1:
        raise typer.BadParameter("FPIR must be between 0 and 1", param_hint="--fpir")
    if sum(x is not None for x in (name, face, photo)) != 1:
        raise typer.BadParameter("give exactly one of NAME, --face or --photo")
    ws = _ws(workspace)
    _warn_other_models(ws)
    result = ws.faces.find(name=name, face_id=face, photo=photo, fpir=fpir)
    target = name or (f"face {face}" if face is not None else str(photo))
    audit(ws, "find", target, fpir=fpir, appearances=len(result.appearances), new=result.new_candidates)
    table = Table(
        title=f"{target}: {len(result.appearances)} appearance(s) among {result.faces_searched} face(s) "
        f"(FPIR {fpir:g} at collection size: per-comparison FMR {result.comparison_fmr:.1e})"
    )
    for col in ("candidate", "source", "time", "face", "quality / ref", "score", "FMR", "status"):
        table.add_column(col)
    for a in result.appearances:
        # One row per picture; its other copies' faces indented under it (imint.faces.near_copies).
        for a_copy, prefix in [(a, "")] + [(c, "↳ ") for c in a.get("copies", [])]:
            table.add_row(
                str(a_copy["candidate_id"] or ""),
                prefix + Path(a_copy["source"]).name[:40],
                f"{a_copy['frame_time']:.1f} s" if a_copy["frame_time"] is not None else "",
                str(a_copy["face_id"]),
                f"{a_copy['quality']:.2f} / {a_copy['reference_quality']:.2f}",
                f"{a_copy['score']:.3f}",
                fmr_label(a_copy["fmr"]),
                a_copy["status"] or "",
            )
    console.print(table)
    for a in result.appearances:  # the "first seen" line of each picture held in several copies
        if a.get("near_copies"):
            console.print(f"{Path(a['source']).name}: {first_seen_label(a['near_copies'])}")
    if result.person is not None:
        console.print(f"{result.new_candidates} new candidate(s) queued for review (imint candidates)")
    if json_out:
        write_json(json_out, result.to_dict())
        console.print(f"JSON: {json_out}")


@handle_errors
def verify(
    a: Annotated[Path, typer.Argument(help="First photo (its largest face is used).")],
    b: Annotated[Path, typer.Argument(help="Second photo.")],
    fmr: Annotated[float, typer.Option(help="Operating point: false-match rate accepted.")] = DEFAULT_FMR,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Compare two faces (1:1): score, calibrated FMR and a decision at the chosen FMR."""
    ws = _ws(workspace)
    r = ws.verify(a, b, fmr=fmr)
    audit(ws, "verify", f"{a} | {b}", score=r.score, fmr=r.fmr)
    verdict = "[green]same person[/]" if r.same_person else "[red]not the same person[/]"
    console.print(
        f"{verdict} at FMR {fmr:g}: score {r.score:.3f} ({fmr_label(r.fmr)}), "
        f"quality {r.reason_a} / {r.reason_b}"
    )
    if json_out:
        write_json(json_out, r.to_dict())


@handle_errors
def cluster(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Photos or folders to add before clustering.")
    ] = None,
    fmr: Annotated[float, typer.Option(help="Join faces whose calibrated FMR is below this.")] = 1e-3,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the clusters as JSON here.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Group the unknown faces of a collection (manual merges and splits are kept).

    Exact average linkage up to 5,000 faces; above, the same linkage inside the components of the
    k-nearest-neighbour graph of the collection index (docs/scale.md)."""
    from imint.faces.cluster import Clusters

    ws = _ws(workspace)
    _warn_other_models(ws)
    with progress() as prog:
        clusters = Clusters(ws.faces).run(paths or [], fmr=fmr, progress=_bar(prog, "analysing"))
    _print_clusters(clusters)
    if json_out:
        write_json(json_out, [c.to_dict() for c in clusters])


def _print_clusters(clusters) -> None:  # noqa: ANN001
    table = Table(title=f"{len(clusters)} clusters of unknown faces")
    for col in ("id", "name", "faces", "files", "person"):
        table.add_column(col)
    for c in clusters:
        table.add_row(str(c.id), c.name, str(len(c.face_ids)), str(len(c.evidence)), c.person or "")
    console.print(table)


@clusters_app.command("list")
@handle_errors
def clusters_list(workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """List clusters, largest first."""
    from imint.faces.cluster import Clusters

    _print_clusters(Clusters(_ws(workspace).faces).list())


@clusters_app.command("rename")
@handle_errors
def clusters_rename(cluster_id: int, name: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Give a cluster a name (kept across re-clustering)."""
    from imint.faces.cluster import Clusters

    Clusters(_ws(workspace).faces).rename(cluster_id, name)
    console.print(f"cluster {cluster_id} renamed to {name}")


@clusters_app.command("merge")
@handle_errors
def clusters_merge(cluster_ids: list[int], workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Merge clusters into the first one given."""
    from imint.faces.cluster import Clusters

    kept = Clusters(_ws(workspace).faces).merge(cluster_ids)
    console.print(f"merged into cluster {kept}")


@clusters_app.command("split")
@handle_errors
def clusters_split(cluster_id: int, face_ids: list[int], workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Move the given faces out of a cluster into a new one."""
    from imint.faces.cluster import Clusters

    new = Clusters(_ws(workspace).faces).split(cluster_id, face_ids)
    console.print(f"faces moved to new cluster {new}")


@clusters_app.command("promote")
@handle_errors
def clusters_promote(cluster_id: int, name: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Make a cluster an enrolled person (its best faces become reference photos)."""
    from imint.faces.cluster import Clusters

    pid = Clusters(_ws(workspace).faces).promote(cluster_id, name)
    console.print(f"cluster {cluster_id} promoted to person {name} ({pid})")


@persons_app.command("list")
@handle_errors
def persons_list(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the list as JSON here.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """List enrolled persons."""
    persons = _ws(workspace).faces.list_persons()
    table = Table(title=f"{len(persons)} enrolled persons")
    for col in ("id", "name", "aliases", "references", "listed because", "since"):
        table.add_column(col)
    for p in persons:
        table.add_row(
            str(p["id"]),
            p["name"],
            ", ".join(p["aliases"]),
            str(p["references"]),
            p["listing_reason"],
            p["created_at"],
        )
    console.print(table)
    if json_out:
        write_json(json_out, persons)


@persons_app.command("rename")
@handle_errors
def persons_rename(name: str, new_name: str, workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Rename a person."""
    _ws(workspace).faces.update_person(name, new_name=new_name)
    console.print(f"{name} is now {new_name}")


@persons_app.command("remove")
@handle_errors
def persons_remove(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Remove a person and their reference faces (the photos stay in the evidence store)."""
    if not yes:
        typer.confirm(f"Remove {name} and their reference faces?", abort=True)
    _ws(workspace).faces.remove_person(name)
    console.print(f"removed {name}")


@persons_app.command("watchlist")
@handle_errors
def persons_watchlist(
    watchlist: Annotated[str, typer.Argument(help="Watchlist name (created if new).")],
    names: Annotated[list[str] | None, typer.Argument(help="Persons to add.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Add persons to a watchlist, or list the watchlists when no person is given."""
    faces = _ws(workspace).faces
    if names:
        faces.add_to_watchlist(watchlist, names)
    for wl in faces.list_watchlists():
        console.print(f"{wl['name']}: {', '.join(wl['members']) or '(empty)'}")


@handle_errors
def candidates(
    status: Annotated[str, typer.Option(help="candidate, confirmed, rejected or all.")] = "candidate",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the list as JSON here.")] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """The review queue: candidates (possible identities of faces) waiting for a person's decision."""
    rows = _ws(workspace).faces.list_matches(None if status == "all" else status)
    table = Table(title=f"{len(rows)} candidates ({status})")
    for col in ("candidate", "person", "FMR", "score", "evidence", "status", "decided by"):
        table.add_column(col)
    for m in rows:
        table.add_row(
            str(m["id"]),
            m["person"],
            fmr_label(m["fmr"]),
            f"{m['score']:.3f}",
            m["evidence_sha256"][:12],
            m["status"],
            m["decided_by"] or "",
        )
    console.print(table)
    if json_out:
        write_json(json_out, rows)


NoteOpt = Annotated[str, typer.Option(help="Why (kept with the decision).")]


def _decide(candidate_id: int, status: str, note: str, workspace: Path) -> None:
    ws = _ws(workspace)
    r = ws.faces.decide(candidate_id, status, note)
    audit(ws, {"confirmed": "confirm", "rejected": "reject"}[status], f"candidate {candidate_id}", note=note)
    console.print(f"candidate {candidate_id} {status} by {r['decided_by']} at {r['decided_at']}")


@handle_errors
def confirm(candidate_id: int, note: NoteOpt = "", workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Confirm a candidate (records who and when)."""
    _decide(candidate_id, "confirmed", note, workspace)


@handle_errors
def reject(candidate_id: int, note: NoteOpt = "", workspace: WorkspaceOpt = DEFAULT_WS) -> None:
    """Reject a candidate (records who and when)."""
    _decide(candidate_id, "rejected", note, workspace)


@handle_errors
def eval_faces(
    data_dir: Annotated[Path, typer.Argument(help="A folder laid out like ../shared/data/faces.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics as JSON here.")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Use only the first N manifest images (smoke runs).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Write a PNG of asked against seen error rates (does the calibration hold here?)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="A face model id other than the default (e.g. an older one).")
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Reuse and keep each image's analysis here (by file hash and model).")
    ] = None,
) -> None:
    """Measure verification, identification and clustering on a labelled face folder.

    Also checks the committed calibration on the folder's people it was not fitted on:
    at each operating point, the error rate asked for against the one seen."""
    from imint.faces.evaluate import calibration_plot, evaluate_faces, print_report

    with progress() as prog:
        report = evaluate_faces(
            data_dir, progress=_bar(prog, "evaluating"), limit=limit, model_id=model, cache=cache
        )
    print_report(report, console)
    if json_out:
        write_json(json_out, report)
        console.print(f"JSON: {json_out}")
    if plot:
        console.print(f"calibration plot: {calibration_plot(report, plot)}")


@handle_errors
def reembed(
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the run's report as JSON here.")
    ] = None,
    workspace: WorkspaceOpt = DEFAULT_WS,
) -> None:
    """Re-analyse stored photos with the current face model; carry people's decisions over.

    Photos analysed only with an older model get new faces under the current model id. References,
    candidates, decisions and cluster edits move to the new face where old and new boxes map one-to-one;
    the old rows are kept. Safe to stop and run again: it resumes, and a second run changes nothing."""
    from imint.faces.reembed import reembed as run_reembed

    ws = _ws(workspace)
    with progress() as prog:
        report = run_reembed(ws.faces, progress=_bar(prog, f"re-embedding ({ws.faces.model_id})"))
    audit(ws, "reembed", report.model_id, photos=report.photos_done, mapped=report.faces_mapped)
    c = report.carried
    console.print(
        f"{report.photos_done} of {report.photos_to_do} photo(s) re-embedded with {report.model_id}: "
        f"{report.faces_new} new face(s), {report.faces_mapped} of {report.faces_old} old face(s) mapped; "
        f"carried {c['references']} reference(s), {c['candidates']} candidate(s)/decision(s), "
        f"{c['clusters']} cluster membership(s), {c['constraints']} cluster constraint(s)"
    )
    if report.photos_relinked:
        console.print(
            f"{report.photos_relinked} photo(s) already analysed with {report.model_id}: links carried"
        )
    for line in report.not_carried:
        err_console.print(f"[yellow]not carried over:[/] {line}")
    for line in report.photos_failed:
        err_console.print(f"[red]could not re-embed:[/] {line}")
    if report.videos_not_reembedded:
        err_console.print(
            f"[yellow]{report.videos_not_reembedded} video(s) were scanned with another model only:[/] "
            "search them again (`imint search VIDEO`) to analyse them with this one"
        )
    if json_out:
        write_json(json_out, report.to_dict())
    if report.photos_failed:
        raise typer.Exit(1)
