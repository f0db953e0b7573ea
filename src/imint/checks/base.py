"""What a check is, what it returns, and the context it runs in.

A check is a function ``check(ctx) -> CheckResult``. It reads the evidence through ``ctx`` (the stored
original, never a loose path), may return a heat map (``CheckResult.heatmap``, float array in [0, 1]) that
the runner writes as a PNG under ``exports/checks/``, and raises :class:`CheckError` (or any
:class:`~imint.errors.ImintError`) for input it cannot use; the runner turns that into an ``error`` row.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from imint.errors import BadInputError
from imint.media.images import MAX_PIXELS
from imint.records import Evidence

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from imint.workspace import Workspace

STATUSES = ("ok", "flagged", "error", "absent")
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif")


class CheckError(BadInputError):
    """A check could not use this file; the message names the file and the check."""

    def __init__(self, message: str, *, file: str, check: str) -> None:
        super().__init__(message, subject=f"{file} [check {check}]")
        self.file = file
        self.check = check


@dataclass
class CheckResult:
    """One check's finding on one evidence file. ``summary`` is one plain sentence, never a verdict."""

    check: str
    status: str  # ok, flagged, error, absent
    summary: str
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    artifact: str | None = None  # heat-map PNG path relative to the workspace, set by the runner
    created_at: str = ""
    evidence_sha256: str = ""
    id: int | None = None  # the stored row (``check:ID`` in claim links), None until stored
    heatmap: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"check status must be one of {STATUSES}, not {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "status": self.status,
            "score": self.score,
            "summary": self.summary,
            "details": self.details,
            "method": self.method,
            "artifact": self.artifact,
            "created_at": self.created_at,
            "evidence_sha256": self.evidence_sha256,
            "id": self.id,
        }


class CheckContext:
    """The evidence a check looks at, decoded once and shared by every check of one run."""

    def __init__(
        self, ws: Workspace, evidence: Evidence, session: Session, *, just_stored: bool = False
    ) -> None:
        self.ws = ws
        self.evidence = evidence
        self.session = session
        # The ingest hook's run: this transaction has just inserted the evidence row, so nothing is stored
        # for it yet (no hash, no check result) and nothing needs looking up or replacing.
        self.just_stored = just_stored
        self._data: bytes | None = None
        self._pil: Image.Image | None = None
        self._rgb: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.evidence.original_name

    @property
    def path(self) -> Path:
        return Path(self.evidence.stored_path)

    def data(self) -> bytes:
        if self._data is None:
            self._data = self.path.read_bytes()
        return self._data

    def fail(self, check: str, message: str) -> CheckError:
        return CheckError(message, file=self.name, check=check)

    def pil(self, check: str) -> Image.Image:
        """The image as stored (no EXIF rotation: forensic checks need the file's own pixel grid)."""
        if self._pil is None:
            if self.data()[8:12] in HEIF_BRANDS:
                import pillow_heif

                pillow_heif.register_heif_opener()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    img = Image.open(io.BytesIO(self.data()))
                    w, h = img.size
                    if w * h > MAX_PIXELS:
                        raise self.fail(check, f"image too large ({w} x {h} px)")
                    img.load()
            except CheckError:
                raise
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise self.fail(check, f"image too large to decode safely ({exc})") from exc
            except UnidentifiedImageError as exc:
                raise self.fail(check, "not an image (unrecognised format)") from exc
            except (OSError, SyntaxError, ValueError) as exc:
                raise self.fail(check, f"truncated or corrupt image ({exc})") from exc
            self._pil = img
        return self._pil

    def rgb(self, check: str) -> np.ndarray:
        """RGB uint8 ``(h, w, 3)`` of the stored pixel grid."""
        if self._rgb is None:
            img = self.pil(check)
            if img.mode in ("RGBA", "LA", "P", "PA"):
                rgba = img.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, rgba)
            self._rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
        return self._rgb

    @property
    def kind(self) -> str:
        """The evidence kind, except that a HEIF/AVIF still picture counts as an image.

        The core sniffer reads every ISO-BMFF ``ftyp`` file as video; a HEIC photo is a still image.
        """
        if self.evidence.kind == "video" and self.data()[8:12] in HEIF_BRANDS:
            return "image"
        return self.evidence.kind

    def decoded_rgb(self) -> np.ndarray | None:
        """The pixels if a check already decoded them (heat maps are drawn over them), else None."""
        return self._rgb

    def is_image(self) -> bool:
        return self.kind == "image"


CheckFunction = Callable[[CheckContext], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    function: CheckFunction
    title: str
    kinds: tuple[str, ...] = ("image",)
    cheap: bool = False  # runs at ingest (on_ingest) when True
    group: str = ""  # e.g. "forensics"


def not_applicable(name: str, evidence: Evidence, method: str = "") -> CheckResult:
    return CheckResult(
        check=name,
        status="absent",
        summary=f"not run: this check reads images and {evidence.original_name} is a {evidence.kind}",
        method=method,
    )
