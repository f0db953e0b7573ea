"""Scores -> error rates, per face quality.

A raw similarity means nothing to an analyst; an error rate does. For each pair of
quality bins (the bins of the two faces compared: a blurred face against a sharp
one is not a blurred face against a blurred one) the committed table holds the
impostor score distribution of our model as pairs ``(log10 FMR, score)``, fitted by
``scripts/fit_calibration.py`` on development identities and checked on other
identities held back from the fit.

- 1:1: ``fmr(score, quality)`` is the share of different-person pairs at that quality
  scoring at least ``score``.
- 1:N: a stranger searched against a gallery of T reference faces is a false positive
  identification when any of the T comparisons clears the threshold, so the threshold
  for a false-positive identification rate f uses a per-comparison FMR of
  ``1 - (1 - f) ** (1 / T_eff)``, with ``T_eff = T * c``: ``c``, the effective share of
  independent comparisons (one probe's comparisons are not independent), is fitted on
  the development data for each quality bin of the searched face.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imint.faces.quality import QUALITY_BINS, quality_bin

CALIBRATION_FILE = Path(__file__).parent / "calibration.json"
DEFAULT_FPIR = 0.01
DEFAULT_FMR = 1e-3


@dataclass
class BinTable:
    log10_fmr: np.ndarray  # decreasing: 0 (FMR 1) ... -6
    score: np.ndarray  # increasing thresholds for those FMRs

    def fmr(self, score: np.ndarray | float) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        # Above the table's last row (FMR 1e-6, itself from the fitted exponential tail)
        # we claim no smaller rate: the data cannot support one.
        lf = np.interp(s, self.score, self.log10_fmr)
        return 10.0**lf

    def threshold(self, fmr: float) -> float:
        lf = np.log10(np.clip(fmr, 1e-12, 1.0))
        if lf < self.log10_fmr[-1]:
            slope = (self.log10_fmr[-1] - self.log10_fmr[-2]) / max(self.score[-1] - self.score[-2], 1e-9)
            return float(self.score[-1] + (lf - self.log10_fmr[-1]) / slope)
        return float(np.interp(-lf, -self.log10_fmr, self.score))


def identity_key(identity: str) -> str:
    """A short SHA-1 of a person's name: lets the table say whom it was fitted on without
    holding the names (the table holds fitted numbers, never data)."""
    return hashlib.sha1(identity.encode()).hexdigest()[:16]


@dataclass
class Calibration:
    model_id: str
    bins: dict[str, BinTable]
    effective_fraction: float = 1.0
    effective_fraction_by_bin: dict[str, float] = field(default_factory=dict)
    fitted_on: str = ""
    # identity_key of every identity the fit used; None for a table that does not record them.
    fit_identities: frozenset[str] | None = None

    def was_fitted_on(self, identity: str) -> bool | None:
        """Whether ``identity`` (a dataset's person name) was used to fit this table; None if unknown.

        An error rate checked on people the table was fitted on says little, so
        ``imint eval faces`` measures the default operating point on the others. On the
        development set that is the held-back half; on a set of other people, everyone."""
        if self.fit_identities is None:
            return None
        return identity_key(identity) in self.fit_identities

    def table(self, quality: float, other_quality: float | None = None) -> BinTable:
        """The table for a pair of faces; ``other_quality`` None means a good reference face."""
        name = pair_bin(quality, 1.0 if other_quality is None else other_quality)
        if name in self.bins:
            return self.bins[name]
        low = quality_bin(min(quality, 1.0 if other_quality is None else other_quality))
        return self.bins.get(f"{low}+{low}") or next(iter(self.bins.values()))

    def fmr(self, score: float, quality: float, other_quality: float | None = None) -> float:
        """Calibrated false-match rate of one comparison scoring ``score`` at these qualities."""
        return float(self.table(quality, other_quality).fmr(score))

    def threshold_for_fmr(self, fmr: float, quality: float, other_quality: float | None = None) -> float:
        return self.table(quality, other_quality).threshold(fmr)

    def comparison_fmr_for_fpir(self, fpir: float, n_references: int, quality: float | None = None) -> float:
        """Per-comparison FMR that gives ``fpir`` for a search of a face at ``quality``."""
        c = self.effective_fraction
        if quality is not None:
            c = self.effective_fraction_by_bin.get(quality_bin(quality), c)
        t_eff = max(1.0, n_references * c)
        return float(1.0 - (1.0 - fpir) ** (1.0 / t_eff))

    def threshold_for_fpir(
        self, fpir: float, quality: float, n_references: int, other_quality: float | None = None
    ) -> float:
        p = self.comparison_fmr_for_fpir(fpir, n_references, quality)
        return self.threshold_for_fmr(p, quality, other_quality)

    def to_json(self) -> dict:
        return {
            "model_id": self.model_id,
            "fitted_on": self.fitted_on,
            "effective_fraction": self.effective_fraction,
            "effective_fraction_by_bin": self.effective_fraction_by_bin,
            "fit_identity_sha1": None if self.fit_identities is None else sorted(self.fit_identities),
            "bins": {
                name: {"log10_fmr": t.log10_fmr.round(4).tolist(), "score": t.score.round(5).tolist()}
                for name, t in self.bins.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> Calibration:
        return cls(
            model_id=data["model_id"],
            fitted_on=data.get("fitted_on", ""),
            effective_fraction=float(data.get("effective_fraction", 1.0)),
            effective_fraction_by_bin={
                k: float(v) for k, v in data.get("effective_fraction_by_bin", {}).items()
            },
            bins={
                name: BinTable(np.asarray(b["log10_fmr"], float), np.asarray(b["score"], float))
                for name, b in data["bins"].items()
            },
            fit_identities=None
            if data.get("fit_identity_sha1") is None
            else frozenset(data["fit_identity_sha1"]),
        )


def fit_bin(impostor_scores: np.ndarray, min_log10_fmr: float = -6.0) -> BinTable:
    """Impostor scores -> FMR table: empirical where there are enough pairs, exponential tail beyond."""
    s = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    n = len(s)
    if n < 100:
        raise ValueError(f"too few impostor scores to calibrate ({n})")
    # Empirical part: FMR down to 30 pairs above the threshold.
    emp_floor = np.log10(30.0 / n)
    grid_emp = np.arange(0.0, emp_floor, -0.25)
    scores_emp = [float(s[min(n - 1, max(0, int(round(10.0**lf * n)) - 1))]) for lf in grid_emp]
    # Tail: least-squares line of log10 FMR against score over the top 1 % (at least 30 pairs).
    k = max(30, int(0.01 * n))
    top = s[:k]
    lf_top = np.log10(np.arange(1, k + 1) / n)
    slope, intercept = np.polyfit(top, lf_top, 1)
    grid_tail = np.arange(grid_emp[-1] - 0.25, min_log10_fmr - 1e-9, -0.25)
    scores_tail = [(lf - intercept) / slope for lf in grid_tail]
    lf = np.concatenate([grid_emp, grid_tail])
    sc = np.maximum.accumulate(np.concatenate([scores_emp, scores_tail]))  # thresholds must not decrease
    sc = sc + np.arange(len(sc)) * 1e-6  # strictly increasing for interpolation
    return BinTable(lf, sc)


def pair_bin(quality_a: float, quality_b: float) -> str:
    """Name of the calibration bin of a pair of faces, e.g. ``medium+high`` (order-free)."""
    a, b = quality_bin(quality_a), quality_bin(quality_b)
    ia, ib = QUALITY_BINS.index(a), QUALITY_BINS.index(b)
    return f"{a}+{b}" if ia <= ib else f"{b}+{a}"


def pair_bin_names() -> list[str]:
    return [f"{a}+{b}" for i, a in enumerate(QUALITY_BINS) for b in QUALITY_BINS[i:]]


@functools.cache
def load_calibration(model_id: str, path: Path = CALIBRATION_FILE) -> Calibration:
    if not path.exists():
        raise RuntimeError(f"calibration table missing: {path} (run scripts/fit_calibration.py)")
    tables = json.loads(path.read_text())
    for entry in tables:
        if entry["model_id"] == model_id:
            return Calibration.from_json(entry)
    raise RuntimeError(
        f"no calibration for model {model_id!r} in {path}; refit with scripts/fit_calibration.py"
    )
