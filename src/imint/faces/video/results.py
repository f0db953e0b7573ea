"""What a video search returns: tracks with their candidates, appearances, and the whole result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imint.faces.quality import is_poor
from imint.faces.results import identified_as
from imint.media.frames import DEFAULT_SAMPLE_FPS, VideoInfo
from imint.records import Candidate, Evidence


@dataclass
class TrackResult:
    """One reported face track, searched 1:N as a whole by its template."""

    track_id: int
    track_no: int
    start: float
    end: float
    frames: int
    best_frame_time: float
    best_box: tuple[float, ...]
    quality: float
    quality_reason: str
    face_id: int | None
    candidates: list[Candidate] = field(default_factory=list)
    cluster: int | None = None

    @property
    def best(self) -> Candidate | None:
        return identified_as(self.candidates)

    @property
    def poor(self) -> bool:
        return is_poor(self.quality_reason)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "track": self.track_no,
            "track_id": self.track_id,
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "best_frame_time": self.best_frame_time,
            "best_box": [round(v, 1) for v in self.best_box],
            "quality": round(self.quality, 3),
            "quality_reason": self.quality_reason,
            "poor_quality": self.poor,
            "face_id": self.face_id,
            "person": best.person_name if best else None,
            "cluster": self.cluster,
            "candidates": [
                {
                    "person": c.person_name,
                    "rank": c.rank,
                    "score": round(c.score, 4),
                    "fmr": c.fmr,
                    "above_threshold": c.above_threshold,
                    "status": c.status,
                }
                for c in self.candidates
            ],
        }


@dataclass
class Appearance:
    """Where one person (or one unknown cluster, or one unclustered track) is visible."""

    person: str | None
    person_id: int | None
    cluster: int | None
    start: float
    end: float
    score: float | None
    fmr: float | None  # the match's calibrated FMR; for unknowns, that of the closest enrolled person
    best_frame_time: float
    quality_reason: str
    track_nos: list[int]
    status: str = "candidate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "cluster": self.cluster,
            "start": self.start,
            "end": self.end,
            "fmr": self.fmr,
            "score": None if self.score is None else round(self.score, 4),
            "best_frame_time": self.best_frame_time,
            "quality_reason": self.quality_reason,
            "tracks": self.track_nos,
            "status": self.status if self.person else None,
        }


@dataclass
class VideoResult:
    path: str
    evidence: Evidence | None = None
    info: VideoInfo | None = None
    operating_point: str = ""
    sample_fps: float = DEFAULT_SAMPLE_FPS
    tracks: list[TrackResult] = field(default_factory=list)
    appearances: list[Appearance] = field(default_factory=list)
    frames_sampled: int = 0
    error: str | None = None  # a fault in the stream: results cover the part before it
    reused: bool = False  # the analysis came from an earlier run (only matching was redone)
    seconds: float = 0.0  # analysis time of this call
    annotated_path: str | None = None
    contact_sheet_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # this call's ScanStats (empty when reused)

    def to_dict(self) -> dict[str, Any]:
        info = self.info
        return {
            "media": {
                "path": self.path,
                "sha256": self.evidence.sha256 if self.evidence else None,
                "duration": info.duration if info else None,
                "width": info.width if info else None,
                "height": info.height if info else None,
                "fps": info.fps if info else None,
                "codec": info.codec if info else None,
                "rotation": info.rotation if info else None,
            },
            "operating_point": self.operating_point,
            "sample_fps": self.sample_fps,
            "frames_sampled": self.frames_sampled,
            "error": self.error,
            "reused_earlier_analysis": self.reused,
            "seconds": round(self.seconds, 2),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "annotated_video": self.annotated_path,
            "contact_sheet": self.contact_sheet_path,
            "appearances": [a.to_dict() for a in self.appearances],
            "tracks": [t.to_dict() for t in self.tracks],
        }
