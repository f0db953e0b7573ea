"""What a video search draws: an annotated MP4 of the sampled frames and a contact sheet of tracks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from imint.faces.annotate import draw_faces, fmr_label
from imint.faces.video.results import TrackResult
from imint.faces.video.storage import best_shot_crops, detection_boxes
from imint.media.frames import TruncatedVideoError, VideoInfo, iter_frames
from imint.records import Evidence

if TYPE_CHECKING:
    from imint.workspace import Workspace

Labelled = tuple[tuple[float, ...], str, str]  # box, label, state (as ``draw_faces`` takes them)


def _track_label(t: TrackResult) -> tuple[str, str]:
    """The label and colour state of a track's boxes in the annotated video."""
    best = t.best
    if best is not None:
        state = "confirmed" if best.status == "confirmed" else "match"
        return f"{best.person_name} ({fmr_label(best.fmr)})", state
    if t.poor:
        return f"#{t.track_no} poor quality", "poor"
    cluster = f" c{t.cluster}" if t.cluster is not None else ""
    return f"#{t.track_no} unknown{cluster}", "unknown"


def _boxes_by_time(ws: Workspace, scan_id: int, tracks: list[TrackResult]) -> dict[float, list[Labelled]]:
    label_of = {t.track_id: _track_label(t) for t in tracks}
    boxes_at: dict[float, list[Labelled]] = {}
    for track_id, frame_time, box in detection_boxes(ws, scan_id):
        label, state = label_of.get(track_id, ("", "unknown"))
        boxes_at.setdefault(round(frame_time, 3), []).append((box, label, state))
    return boxes_at


def write_annotated(
    ws: Workspace,
    evidence: Evidence,
    info: VideoInfo,
    scan_id: int,
    tracks: list[TrackResult],
    out_dir: Path,
    *,
    fps: float,
    max_side: int = 1280,
) -> Path:
    """An MP4 of the sampled frames with every tracked face boxed and labelled."""
    import av

    boxes_at = _boxes_by_time(ws, scan_id, tracks)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(evidence.original_name).stem}-{evidence.sha256[:8]}.mp4"
    tmp = out.with_name(f".{out.name}.partial.mp4")
    scale = min(1.0, max_side / max(info.width, info.height))
    width, height = (int(round(v * scale / 2)) * 2 for v in (info.width, info.height))
    container = av.open(str(tmp), "w")
    try:
        stream = container.add_stream("libx264", rate=max(1, round(fps)))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        try:
            for frame in iter_frames(evidence.stored_path, fps=fps, info=info):
                img = draw_faces(frame.rgb, boxes_at.get(round(frame.time, 3), []))
                img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
                cv2.putText(
                    img, f"{frame.time:7.2f} s", (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 255), 1, cv2.LINE_AA,
                )  # fmt: skip
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    container.mux(packet)
        except TruncatedVideoError:
            pass  # the annotated video covers the good part, like the analysis
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    tmp.replace(out)
    return out


def _who(t: TrackResult) -> str:
    best = t.best
    if best:
        return f"{best.person_name}"
    return "poor quality" if t.poor else f"unknown{f' c{t.cluster}' if t.cluster else ''}"


def write_contact_sheet(
    ws: Workspace,
    evidence: Evidence,
    scan_id: int,
    tracks: list[TrackResult],
    out_dir: Path,
    *,
    cell: int = 160,
) -> Path:
    """A PNG grid of every track's best shot with its time span and identity."""
    from PIL import Image, ImageDraw, ImageFont

    crops = best_shot_crops(ws, scan_id)
    cols = max(1, min(6, len(tracks)))
    rows = max(1, math.ceil(len(tracks) / cols))
    caption = 46
    sheet = Image.new("RGB", (cols * cell, rows * (cell + caption) + 28), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    draw.text(
        (6, 6),
        f"{evidence.original_name}  {evidence.sha256[:12]}  {len(tracks)} tracks",
        fill="black",
        font=font,
    )
    for i, t in enumerate(tracks):
        x, y = (i % cols) * cell, 28 + (i // cols) * (cell + caption)
        data = crops.get(t.track_id)
        if data:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            sheet.paste(Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).resize((cell, cell)), (x, y))
        best = t.best
        colour = (200, 120, 0) if best else (90, 90, 90)
        draw.text(
            (x + 4, y + cell + 2), f"#{t.track_no} {t.start:.1f}-{t.end:.1f} s", fill="black", font=font
        )
        draw.text((x + 4, y + cell + 16), _who(t)[:24], fill=colour, font=font)
        if best:
            draw.text((x + 4, y + cell + 30), fmr_label(best.fmr), fill=colour, font=font)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{Path(evidence.original_name).stem}-{evidence.sha256[:8]}-tracks.png"
    tmp = out.with_name(f".{out.name}.partial.png")
    sheet.save(tmp, format="PNG")
    tmp.replace(out)
    return out
