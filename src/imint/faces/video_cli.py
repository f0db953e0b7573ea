"""The video half of ``imint search``: run the video search per file and print appearances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from imint.cli_common import console, err_console, progress
from imint.errors import ImintError
from imint.faces.annotate import format_fmr
from imint.faces.video import VideoResult, search_video


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
    """Search each video; print a table of appearances; return one JSON object per video.

    A video that cannot be read is listed at the end (as photo search does) and gives
    ``{"media": {"path": ...}, "error": ..., "appearances": []}``.
    """
    results: list[VideoResult] = []
    failed: list[dict[str, Any]] = []
    with progress() as prog:
        for path in videos:
            task = prog.add_task(f"video {path.name[:40]}", total=None)
            seen = {"total": 1}

            def update(done: int, total: int, _item: str, task: Any = task, seen: dict = seen) -> None:
                seen["total"] = max(total, 1)
                prog.update(task, completed=done, total=total)

            try:
                results.append(
                    search_video(
                        ws,
                        path,
                        fpir=fpir,
                        k=k,
                        watchlist=watchlist,
                        fps=fps,
                        annotate_dir=out_dir,
                        progress=update,
                    )
                )
            except ImintError as exc:
                failed.append({"media": {"path": str(path)}, "error": str(exc), "appearances": []})
            prog.update(task, completed=seen["total"], total=seen["total"])
    table = Table(title=f"Appearances in video (operating point FPIR {fpir:g}, {fps:g} frames/s analysed)")
    for col in ("file", "from", "to", "who", "FMR", "best shot", "tracks", "quality"):
        table.add_column(col)
    for r in results:
        name = Path(r.path).name
        if not r.appearances:
            table.add_row(name, "", "", "no face", "", "", "", "")
        for a in r.appearances:
            if a.person:
                who = f"[bold]{a.person}[/]"
            elif a.quality_reason.startswith("poor"):
                who = "[dim]poor quality[/]"
            else:
                who = f"unknown (cluster {a.cluster})" if a.cluster is not None else "unknown"
            table.add_row(
                name,
                f"{a.start:.1f} s",
                f"{a.end:.1f} s",
                who,
                format_fmr(a.fmr) if a.person and a.fmr is not None else "",
                f"{a.best_frame_time:.1f} s",
                ",".join(map(str, a.track_nos)),
                a.quality_reason,
            )
    console.print(table)
    for r in results:
        if r.error:
            err_console.print(
                f"[yellow]{Path(r.path).name}: stopped early, results cover the part before:[/] {r.error}"
            )
        if r.annotated_path:
            console.print(f"annotated video: {r.annotated_path}")
        if r.contact_sheet_path:
            console.print(f"contact sheet: {r.contact_sheet_path}")
    if failed:
        err_console.print(f"[yellow]{len(failed)} video(s) could not be searched:[/]")
        for f in failed:
            err_console.print(f"  {f['error']}")
    return [r.to_dict() for r in results] + failed
