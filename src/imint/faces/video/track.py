"""One face track's state: its faces waiting to be stored, motion, template, best shot, and when
its best face is worth a fused embedding."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imint.faces.quality import is_poor
from imint.faces.video.detect import best_shot_jpeg, face_crop
from imint.records import Faces

MIN_TRACK_FRAMES = 2  # shorter tracks are kept as records but not reported (mostly false detections)
MAX_EMBEDDINGS_PER_TRACK = 5
# A track embeds (fused) the best face of its first window, then later windows' best faces only
# if clearly better: fused embeddings are most of the analysis time.
EMBED_WINDOW_SECONDS = 3.0
EMBED_BETTER_BY = 0.08  # a later candidate is embedded only if its quality is this much higher


@dataclass
class PendingFace:
    """A detection waiting for the next segment commit."""

    time: float
    box: np.ndarray
    landmarks: np.ndarray
    score: float
    quality: float
    reason: str
    embedding: np.ndarray | None = None
    row_id: int | None = None  # its face record, once stored
    crop: np.ndarray | None = None  # kept while the face is its track's embedding candidate
    crop_offset: np.ndarray | None = None

    def as_faces(self, offset: np.ndarray | None = None) -> Faces:
        """This face as a one-row ``Faces`` in the coordinates of its crop (or of ``offset``)."""
        if offset is None:
            offset = self.crop_offset if self.crop_offset is not None else np.zeros(2, np.float32)
        return Faces(
            boxes=(self.box - np.tile(offset, 2))[None],
            landmarks=(self.landmarks - offset)[None],
            scores=np.array([self.score], np.float32),
            quality=np.array([self.quality], np.float32),
            quality_reason=[self.reason],
        )


@dataclass
class Track:
    """One face followed across frames: motion, template, best shot and embedding schedule."""

    no: int
    start: float
    end: float
    box: np.ndarray
    velocity: np.ndarray
    n_frames: int = 0
    template_sum: np.ndarray | None = None
    template_weight: float = 0.0
    n_embedded: int = 0
    last_embed_time: float | None = None
    best_quality: float = -1.0
    best_embedded: bool = False
    best_time: float = 0.0
    best_reason: str = ""
    best_box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    best_crop: bytes | None = None
    best_pending: PendingFace | None = None  # the best shot, when it is still pending
    best_face_id: int | None = None
    status: str = "open"
    row_id: int | None = None
    pending: list[PendingFace] = field(default_factory=list)
    candidate: PendingFace | None = None  # the best usable face since the last embedding
    window_start: float = 0.0  # when the current embedding window opened (start, then each embedding)
    # What was sent to be embedded (the schedule must not wait for embeddings computed elsewhere).
    n_submitted: int = 0
    submitted_quality: float = -1.0
    # Re-identification: the best usable face so far (its crop) and, once needed, its SFace vector.
    reid_face: PendingFace | None = None
    reid_crop: np.ndarray | None = None
    reid_offset: np.ndarray | None = None
    signature: np.ndarray | None = None

    def predicted(self, t: float) -> np.ndarray:
        return self.box + self.velocity * min(t - self.end, 0.6)

    @property
    def template(self) -> np.ndarray | None:
        if self.template_sum is None or self.template_weight <= 0:
            return None
        return self.template_sum / max(np.linalg.norm(self.template_sum), 1e-12)

    def embedding_due(self, t: float) -> bool:
        """Time to embed the candidate: its window is over and it adds real evidence.

        Waiting for the window's end (rather than embedding a track's first usable face at
        once) means the best face of the window is embedded, and a track shorter than the
        window is embedded once, at its end.
        """
        if self.n_frames < MIN_TRACK_FRAMES or t - self.window_start < EMBED_WINDOW_SECONDS:
            return False
        return self.embedding_worthwhile()

    def embedding_worthwhile(self) -> bool:
        """Embed the candidate if it adds real evidence: the first face, or a clearly better one."""
        if self.candidate is None or self.n_submitted >= MAX_EMBEDDINGS_PER_TRACK:
            return False
        return self.n_submitted == 0 or self.candidate.quality > self.submitted_quality + EMBED_BETTER_BY

    def add(self, face: PendingFace, rgb: np.ndarray) -> None:
        dt = face.time - self.end
        if dt > 0 and self.n_frames:
            v = (face.box - self.box) / dt
            self.velocity = 0.5 * self.velocity + 0.5 * v  # smoothed: detectors jitter
        self.box = face.box
        self.end = face.time
        self.n_frames += 1
        self.pending.append(face)
        if not is_poor(face.reason):
            self._keep_usable(face, rgb)
        if not self.best_embedded and face.quality > self.best_quality:
            # Until a face is embedded, the best shot is simply the best face seen.
            self._set_best(face, best_shot_jpeg(rgb, face.box), embedded=False)

    def _keep_usable(self, face: PendingFace, rgb: np.ndarray) -> None:
        """Keep the crops of a usable face that is the best embedding candidate or re-ID face."""
        if self.candidate is None or face.quality > self.candidate.quality:
            if self.candidate is not None:
                self.candidate.crop = None  # only one candidate crop per track stays in memory
            face.crop, face.crop_offset = face_crop(rgb, face.box)
            self.candidate = face
        if self.reid_face is None or face.quality > self.reid_face.quality:
            if face.crop is not None:
                self.reid_crop, self.reid_offset = face.crop, face.crop_offset
            else:
                self.reid_crop, self.reid_offset = face_crop(rgb, face.box)
            self.reid_face, self.signature = face, None

    def absorb(self, face: PendingFace, embedding: np.ndarray) -> None:
        """Add an embedded face to the template; the best embedded face is the best shot."""
        face.embedding = embedding
        w = max(face.quality, 0.05)
        e = embedding.astype(np.float64)
        self.template_sum = w * e if self.template_sum is None else self.template_sum + w * e
        self.template_weight += w
        self.n_embedded += 1
        self.last_embed_time = face.time
        if not self.best_embedded or face.quality > self.best_quality:
            if face.crop is not None:
                jpeg = best_shot_jpeg(face.crop, face.box - np.tile(face.crop_offset, 2))
            else:
                jpeg = self.best_crop
            self._set_best(face, jpeg, embedded=True)
        if self.candidate is face:
            self.candidate = None
        face.crop = None

    def _set_best(self, face: PendingFace, jpeg: bytes | None, *, embedded: bool) -> None:
        self.best_quality = face.quality
        self.best_embedded = embedded
        self.best_time = face.time
        self.best_reason = face.reason
        self.best_box = face.box
        self.best_crop = jpeg
        self.best_pending = face
