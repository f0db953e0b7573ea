"""Where a video scan spends its time, and how many faces it embedded (for benchmarks and reports)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass


@dataclass
class ScanStats:
    """Seconds per stage and embedding counts of one scan; the analysis fills what it is given.

    Nothing in the analysis reads these back, so they cannot change a result.
    """

    decode: float = 0.0  # waiting for the next decoded frame
    detect: float = 0.0
    track_and_embed: float = 0.0  # tracker updates, including re-identification and embeddings done there
    embed: float = 0.0  # this process computing or awaiting fused embeddings
    embedded_faces: int = 0  # fused (matching) embeddings
    embed_worker_cpu: float = 0.0  # CPU seconds the worker processes spent on them
    reid_embed: float = 0.0  # SFace vectors for re-identification
    reid_embedded_faces: int = 0

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Add the wall time of the block to ``stage``."""
        clock = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, stage, getattr(self, stage) + time.perf_counter() - clock)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
