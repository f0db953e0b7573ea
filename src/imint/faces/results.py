"""What face work returns: found faces with their candidates, per-file results, enrollment, 1:1."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imint.faces.quality import is_poor

if TYPE_CHECKING:
    from imint.records import Candidate, Evidence

ProgressFn = Callable[[int, int, str], None]

# Candidates listed per face by default; a face's identity is the first of them above the
# operating point (``identified_as``).
DEFAULT_TOP_K = 5


def identified_as(candidates: Sequence[Candidate]) -> Candidate | None:
    """Whom a face is taken for: its best-ranked candidate above the operating point, or None
    ("unknown"). `imint search` and `imint eval faces` both decide by this."""
    return next((c for c in candidates if c.above_threshold), None)


def candidate_dict(c: Candidate) -> dict[str, Any]:
    """A candidate as search results list it (``id`` is its stored candidate, when it has one)."""
    return {
        "id": c.id,
        "person": c.person_name,
        "person_id": c.person_id,
        "rank": c.rank,
        "score": round(c.score, 4),
        "fmr": c.fmr,
        "above_threshold": c.above_threshold,
        "operating_point": c.operating_point,
        "status": c.status,
    }


@dataclass
class FaceResult:
    """One face found in a searched file, with its candidate identities."""

    face_id: int
    box: tuple[float, float, float, float]
    det_score: float
    quality: float
    quality_reason: str
    candidates: list[Candidate] = field(default_factory=list)
    frame_time: float | None = None

    @property
    def poor(self) -> bool:
        return is_poor(self.quality_reason)

    @property
    def best(self) -> Candidate | None:
        """The top candidate above the operating point, or None ("unknown")."""
        return identified_as(self.candidates)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "face_id": self.face_id,
            "box": [round(v, 1) for v in self.box],
            "frame_time": self.frame_time,
            "detector_score": round(self.det_score, 4),
            "quality": round(self.quality, 3),
            "quality_reason": self.quality_reason,
            "poor_quality": self.poor,
            "identity": best.person_name if best else None,
            "candidates": [candidate_dict(c) for c in self.candidates],
        }


@dataclass
class MediaResult:
    """What a search found in one file (or why it could not look)."""

    path: str
    evidence: Evidence | None = None
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    reused: bool = False  # faces came from an earlier run over the same bytes
    annotated_path: str | None = None
    # Other stored copies of the same picture and its "first seen" line (imint.faces.near_copies), and
    # the earlier searched file of the same picture when this one is a copy of it.
    near_copies: dict[str, Any] | None = None
    copy_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.evidence.sha256 if self.evidence else None,
            "error": self.error,
            "reused_earlier_analysis": self.reused,
            "annotated": self.annotated_path,
            "faces": [f.to_dict() for f in self.faces],
            "near_copies": self.near_copies,
            "copy_of": self.copy_of,
        }


class SearchResults(list[MediaResult]):
    """The photos' results of one search, in order, and ``videos``: one JSON object per video
    (appearances, tracks; or ``error``), as the video search returns them."""

    def __init__(self, photos: Sequence[MediaResult] = (), videos: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(photos)
        self.videos: list[dict[str, Any]] = list(videos)


@dataclass
class EnrollResult:
    person_id: int
    name: str
    references_added: int
    problems: list[str] = field(default_factory=list)
    # Candidates the retro-hunt of the back catalogue queued for review (``imint.faces.collection``).
    retro_candidates: int = 0


@dataclass
class FaceComparison:
    """The 1:1 answer for two faces: score, calibrated FMR and the decision at the asked FMR."""

    score: float
    fmr: float
    same_person: bool
    threshold: float
    operating_point: str
    quality_a: float
    quality_b: float
    reason_a: str
    reason_b: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
