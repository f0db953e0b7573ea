"""The video half of ``imint search``: search each video with a progress bar, print its appearances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from imint.cli_common import console, err_console, progress
from imint.faces.annotate import fmr_label
from imint.faces.video.search import search_videos as search_each_video


def search_videos(
    ws: Any,
    videos: list[Path],
    *,
    fpir: float,
    k: int,
    watchlist: str | None,
    fps: float,
    out_dir: Path | None,
) -> list[dict[str, Any]]:
    """``imint.faces.video.search_videos`` with a progress bar per video and a table of appearances.

    Returns its JSON objects; the videos that could not be read are listed at the end (as photo
    search does).
    """
    with progress() as prog:
        tasks: dict[str, Any] = {}

        def update(done: int, total: int, item: str) -> None:
            if item not in tasks:
                tasks[item] = prog.add_task(f"video {Path(item).name[:40]}", total=None)
            if total:
                prog.update(tasks[item], completed=done, total=total)

        found = search_each_video(
            ws, videos, fpir=fpir, k=k, watchlist=watchlist, fps=fps, out_dir=out_dir, progress=update
        )
    searched = [v for v in found if _searched(v)]
    failed = [v for v in found if not _searched(v)]
    console.print(_appearance_table(searched, fpir=fpir, fps=fps))
    for v in searched:
        if v["error"]:
            err_console.print(
                f"[yellow]{_name(v)}: stopped early, results cover the part before:[/] {v['error']}"
            )
        if v["annotated_video"]:
            console.print(f"annotated video: {v['annotated_video']}")
        if v["contact_sheet"]:
            console.print(f"contact sheet: {v['contact_sheet']}")
    if failed:
        err_console.print(f"[yellow]{len(failed)} video(s) could not be searched:[/]")
        for v in failed:
            err_console.print(f"  {v['error']}")
    return found


def _searched(video: dict[str, Any]) -> bool:
    """False for a video that could not be searched (its object has only media, error, appearances)."""
    return "operating_point" in video


def _name(video: dict[str, Any]) -> str:
    return Path(video["media"]["path"]).name


def _appearance_table(videos: list[dict[str, Any]], *, fpir: float, fps: float) -> Table:
    table = Table(title=f"Appearances in video (operating point FPIR {fpir:g}, {fps:g} frames/s analysed)")
    for col in ("file", "from", "to", "who", "FMR", "best shot", "tracks", "quality"):
        table.add_column(col)
    for v in videos:
        name = _name(v)
        if not v["appearances"]:
            table.add_row(name, "", "", "no face", "", "", "", "")
        for a in v["appearances"]:
            if a["person"]:
                who = f"[bold]{a['person']}[/]"
            elif a["quality_reason"].startswith("poor"):
                who = "[dim]poor quality[/]"
            else:
                who = f"unknown (cluster {a['cluster']})" if a["cluster"] is not None else "unknown"
            table.add_row(
                name,
                f"{a['start']:.1f} s",
                f"{a['end']:.1f} s",
                who,
                fmr_label(a["fmr"]) if a["person"] and a["fmr"] is not None else "",
                f"{a['best_frame_time']:.1f} s",
                ",".join(map(str, a["tracks"])),
                a["quality_reason"],
            )
    return table
