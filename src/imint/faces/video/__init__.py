"""Find enrolled people in video: face tracks with time spans, best shots and calibrated matches.

Per video: frames are **sampled** by timestamp (``imint.media.frames``), faces **detected**
on each (``detect``) and **tracked** ByteTrack-like across them, with scene cuts and
re-identification (``tracker``, ``track``); only a track's best face per window is
**embedded** with the engine's fused, calibrated embedder, in worker processes (``pool``).
The analysis is committed segment by segment so a killed run resumes (``scan``,
``storage``). Each track's template is then **searched** 1:N at the calibrated operating
point, unknown tracks are **clustered** with the unknown faces of photos, and a person's
tracks that follow each other closely are **merged** into appearances (``identify``);
``render`` draws the annotated MP4 and the contact sheet. ``search`` holds the library calls.

The names below are imported when first used: loading the video part (its tables, its
``Part``) or an embedding worker must not import the whole pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imint.faces.video.detect import detect_frame
    from imint.faces.video.results import Appearance, TrackResult, VideoResult
    from imint.faces.video.search import search_video, search_videos
    from imint.faces.video.stats import ScanStats

_EXPORTS = {
    "Appearance": "imint.faces.video.results",
    "ScanStats": "imint.faces.video.stats",
    "TrackResult": "imint.faces.video.results",
    "VideoResult": "imint.faces.video.results",
    "detect_frame": "imint.faces.video.detect",
    "search_video": "imint.faces.video.search",
    "search_videos": "imint.faces.video.search",
}

__all__ = [
    "Appearance",
    "ScanStats",
    "TrackResult",
    "VideoResult",
    "detect_frame",
    "search_video",
    "search_videos",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
