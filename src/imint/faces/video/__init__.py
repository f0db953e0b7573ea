"""Find enrolled people in video: face tracks with time spans, best shots and calibrated matches.

Per video: frames are **sampled** by timestamp (``imint.media.frames``), faces **detected**
on each (``detect``) and **tracked** ByteTrack-like across them, with scene cuts and
re-identification (``tracker``); only a track's best face per window is **embedded** with
the engine's fused, calibrated embedder, in worker processes (``pool``). The analysis is
committed segment by segment so a killed run resumes (``scan``, ``storage``). Each track's
template is then **searched** 1:N at the calibrated operating point, unknown tracks are
**clustered** with the unknown faces of photos, and a person's tracks that follow each other
closely are **merged** into appearances (``identify``); ``render`` draws the annotated MP4
and the contact sheet. ``search`` holds the library calls.
"""

from imint.faces.video.detect import detect_frame
from imint.faces.video.results import Appearance, TrackResult, VideoResult
from imint.faces.video.search import search_video, search_videos
from imint.faces.video.stats import ScanStats

__all__ = [
    "Appearance",
    "ScanStats",
    "TrackResult",
    "VideoResult",
    "detect_frame",
    "search_video",
    "search_videos",
]
