"""Activity at a site over time: per area of interest and date, how much of it changed vs a baseline.

For co-registered dates of one site and areas of interest (AOIs) inside it, every date after the
baseline gets an *activity index* per area: the fraction of the area's pixels that changed
significantly against the baseline (the first ``baseline_dates`` dates):

* SAR: log-ratio of backscatter, log(I_t / median of the baseline), then a CFAR on the ratio (a pixel
  is occupied when its ratio stands ``ratio_z`` local standard deviations above its surroundings) -
  vehicles, containers, aircraft and ships add bright scatterers;
* optical: iMAD (:mod:`imint.sites.imad`) of the date against the baseline's median composite, pixels
  with a chi-square p-value below ``alpha`` (the statistic recalibrated so its scene median is the
  chi-square median: most of a scene does not change).

Significance: each baseline date is scored the same way against the other baseline dates
(leave-one-out), which gives the index's own date-to-date variation; a date's ``z`` is its index minus
the baseline mean over that spread (never below the binomial spread of the area's pixel count), and
``p_value`` the normal tail. "Gathering" = ``z`` above ``z_gathering`` (default 3): significantly more
occupied than its baseline. Dates must be in order; an area that covers no pixel of the scene is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from imint.errors import BadInputError, ValidationError
from imint.sites import cfar, geo

MIN_BASELINE = 3
SPECKLE_CORRELATION_PX = 4.0  # pixels per independent sample (speckle / PSF correlation), for the floor


@dataclass
class Area:
    """An area of interest rasterised on the site grid."""

    name: str
    mask: np.ndarray  # bool (h, w)
    polygon_px: list[list[float]] = field(default_factory=list)
    clipped: bool = False  # part of the polygon lies outside the scene

    @property
    def pixels(self) -> int:
        return int(self.mask.sum())


@dataclass
class ActivityReport:
    """Per area and date: index, z, p-value, gathering; plus the baseline statistics."""

    modality: str
    dates: list[str]
    baseline_dates: list[str]
    areas: dict[str, dict[str, Any]]  # name -> {pixels, baseline_mean, baseline_sd, series: [...]}
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "dates": self.dates,
            "baseline_dates": self.baseline_dates,
            "areas": self.areas,
            "notes": self.notes,
        }

    def gatherings(self) -> list[dict[str, Any]]:
        """Every (area, date) flagged as gathering, most significant first."""
        out = [
            {"area": name, **point}
            for name, a in self.areas.items()
            for point in a["series"]
            if point["gathering"]
        ]
        return sorted(out, key=lambda p: -p["z"])

    def chart_png(self, path: str | Path, *, claim_dates: Sequence[str] = (), title: str = "") -> Path:
        """A time-series chart: one line per area, baseline band shaded, gatherings red, claim dates dashed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
        days = [np.datetime64(d[:10]) for d in self.dates]
        for name, a in self.areas.items():
            x = [np.datetime64(p["date"][:10]) for p in a["series"]]
            y = [100 * p["index"] for p in a["series"]]
            (line,) = ax.plot(x, y, marker="o", ms=4, label=name)
            ax.axhspan(
                100 * max(a["baseline_mean"] - 2 * a["baseline_sd"], 0),
                100 * (a["baseline_mean"] + 2 * a["baseline_sd"]),
                color=line.get_color(),
                alpha=0.12,
            )
            g = [(xi, yi) for xi, yi, p in zip(x, y, a["series"], strict=True) if p["gathering"]]
            if g:
                ax.scatter(*zip(*g, strict=True), s=70, facecolors="none", edgecolors="red", zorder=5)
        for i, d in enumerate(claim_dates):
            ax.axvline(
                np.datetime64(d[:10]), color="black", ls="--", lw=1, label="claim date" if i == 0 else None
            )
        if days:
            ax.axvspan(
                days[0],
                np.datetime64(self.baseline_dates[-1][:10]),
                color="grey",
                alpha=0.1,
                label="baseline",
            )
        ax.set_ylabel("changed pixels in area (%)")
        ax.set_title(title or f"activity index ({self.modality}); red circle = gathering")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        fig.autofmt_xdate()
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        tmp = out.with_suffix(".tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(out)
        return out


# ----------------------------------------------------------------------------------------- areas


def _rasterise(polygon: list[list[float]], shape: tuple[int, int]) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(polygon, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, shift=4)
    return mask > 0


def load_areas(
    source: str | Path | dict[str, Any],
    *,
    shape: tuple[int, int],
    crs: str | None = None,
    transform: tuple[float, ...] | None = None,
) -> list[Area]:
    """Areas from a GeoJSON file/dict (EPSG:4326 polygons, name in ``properties.name``) or pixel polygons.

    Pixel polygons: a dict ``{"areas": [{"name": ..., "pixels": [[col, row], ...]}, ...]}`` (the same in
    a JSON file). GeoJSON needs the scene's ``crs`` and ``transform``. An area with no pixel inside the
    scene raises :class:`BadInputError` naming it and the file.
    """
    subject = str(source) if isinstance(source, str | Path) else "areas"
    if isinstance(source, str | Path):
        try:
            data = json.loads(Path(source).read_text())
        except (OSError, ValueError) as exc:
            raise BadInputError(f"not a readable JSON/GeoJSON file ({exc})", subject=source) from exc
    else:
        data = source
    if not isinstance(data, dict):
        raise BadInputError("expected a GeoJSON object or {'areas': [...]}", subject=subject)
    polygons: list[tuple[str, list[list[float]]]] = []
    if "areas" in data:
        for i, a in enumerate(data["areas"]):
            name = str(a.get("name") or f"area {i + 1}")
            pts = a.get("pixels")
            if not isinstance(pts, list) or len(pts) < 3:
                raise BadInputError(
                    f"area {name!r} needs 'pixels': at least 3 [col, row] points", subject=subject
                )
            polygons.append((name, [[float(p[0]), float(p[1])] for p in pts]))
    else:
        if crs is None or transform is None:
            raise ValidationError("GeoJSON areas need a georeferenced scene", subject=subject)
        feats = data.get("features", [data] if data.get("type") == "Feature" else [])
        for i, f in enumerate(feats):
            geom = f.get("geometry") or {}
            name = str((f.get("properties") or {}).get("name") or f"area {i + 1}")
            if geom.get("type") == "Polygon":
                rings = [geom["coordinates"][0]]
            elif geom.get("type") == "MultiPolygon":
                rings = [poly[0] for poly in geom["coordinates"]]
            else:
                raise BadInputError(f"area {name!r} is not a Polygon/MultiPolygon", subject=subject)
            for k, ring in enumerate(rings):
                lon, lat = np.asarray(ring, np.float64)[:, 0], np.asarray(ring, np.float64)[:, 1]
                cols, rows = geo.lonlat_to_pixel(crs, transform, lon, lat)
                polygons.append((name if len(rings) == 1 else f"{name} #{k + 1}", np.c_[cols, rows].tolist()))
    if not polygons:
        raise BadInputError("no areas of interest in it", subject=subject)
    areas = []
    h, w = shape
    for name, poly in polygons:
        mask = _rasterise(poly, shape)
        if not mask.any():
            raise BadInputError(f"area {name!r} lies outside the scene ({w} x {h} px)", subject=subject)
        arr = np.asarray(poly)
        clipped = bool(
            (arr[:, 0] < 0).any() or (arr[:, 1] < 0).any() or (arr[:, 0] > w).any() or (arr[:, 1] > h).any()
        )
        areas.append(Area(name=name, mask=mask, polygon_px=poly, clipped=clipped))
    return areas


# ------------------------------------------------------------------------------------ change maps


def _check_inputs(images: Sequence[np.ndarray], dates: Sequence[str], names: Sequence[str]) -> None:
    if len(images) != len(dates) or len(names) != len(dates):
        raise ValidationError(f"{len(dates)} dates for {len(images)} images", subject="dates")
    for a, b, na, nb in zip(dates, dates[1:], names, names[1:], strict=False):
        if b <= a:
            raise ValidationError(f"dates out of order: {nb} ({b}) is not after {na} ({a})", subject=nb)
    shape = np.shape(images[0])[:2]
    for im, n in zip(images, names, strict=True):
        if np.shape(im)[:2] != shape:
            raise ValidationError(f"not co-registered: {np.shape(im)[:2]} px vs {shape} px", subject=n)


def sar_change(
    image: np.ndarray,
    baseline: Sequence[np.ndarray],
    *,
    ratio_z: float = 4.0,
    window_px: tuple[int, int] = (15, 41),
) -> np.ndarray:
    """Bright-change pixels of a SAR date: CFAR (z > ``ratio_z``) on log(I / baseline median)."""
    eps = 1e-6
    base = np.median(np.stack([np.asarray(b, np.float32) for b in baseline]), axis=0)
    ratio = np.log(np.maximum(np.asarray(image, np.float32), eps) / np.maximum(base, eps))
    valid = np.isfinite(ratio)
    guard, background = window_px
    z = cfar.z_map(ratio, valid, 1, guard, background)
    with np.errstate(invalid="ignore"):
        return z > ratio_z


def optical_change(image: np.ndarray, baseline: Sequence[np.ndarray], *, alpha: float = 0.01) -> np.ndarray:
    """Changed pixels of an optical date (h, w, bands): iMAD p-value < ``alpha`` vs the baseline median."""
    from scipy.stats import chi2

    from imint.sites.imad import imad

    x = np.median(np.stack([np.asarray(b, np.float32) for b in baseline]), axis=0)
    y = np.asarray(image, np.float32)
    if y.ndim == 2:
        x, y = x[..., None], y[..., None]
    stat, _ = imad(x, y)
    # iMAD's reweighting shrinks the no-change variance when the dates are nearly identical (measured:
    # half of an unchanged test scene at p < 0.01), so the statistic is recalibrated on the scene itself:
    # most pixels did not change, so its median is set to the chi-square median.
    p = y.shape[2]
    median = float(np.nanmedian(stat))
    if median > 0:
        stat = stat * float(chi2.ppf(0.5, p)) / median
    return (chi2.sf(np.nan_to_num(stat, nan=0.0), p) < alpha) & np.isfinite(stat)


def activity_series(
    images: Sequence[np.ndarray],
    dates: Sequence[str],
    areas: Sequence[Area],
    *,
    modality: str = "sar",
    baseline_dates: int = MIN_BASELINE,
    names: Sequence[str] | None = None,
    ratio_z: float = 4.0,
    alpha: float = 0.01,
    z_gathering: float = 3.0,
) -> ActivityReport:
    """Activity index per area and date (see module doc); ``names`` (file names) are used in errors."""
    names = list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]
    _check_inputs(images, dates, names)
    if modality not in ("sar", "optical"):
        raise ValidationError(f"unknown modality {modality!r}; choose sar or optical", subject="modality")
    if baseline_dates < MIN_BASELINE or baseline_dates >= len(images):
        raise ValidationError(
            f"need at least {MIN_BASELINE} baseline dates and one more to score "
            f"(got {len(images)} dates, baseline {baseline_dates})",
            subject="baseline_dates",
        )
    for a in areas:
        if a.mask.shape != np.shape(images[0])[:2]:
            raise ValidationError(f"area {a.name!r} is on another grid", subject=a.name)

    def change(image: np.ndarray, base: Sequence[np.ndarray]) -> np.ndarray:
        if modality == "sar":
            return sar_change(image, base, ratio_z=ratio_z)
        return optical_change(image, base, alpha=alpha)

    base_imgs = list(images[:baseline_dates])
    # Leave-one-out: each baseline date against the others, for the index's own date-to-date spread.
    loo = [change(base_imgs[i], base_imgs[:i] + base_imgs[i + 1 :]) for i in range(baseline_dates)]
    later = [change(im, base_imgs) for im in images[baseline_dates:]]
    report_areas: dict[str, dict[str, Any]] = {}
    notes = [
        f"area {a.name!r} is partly outside the scene: only its inside is scored" for a in areas if a.clipped
    ]
    for a in areas:
        n = a.pixels
        base_idx = np.array([m[a.mask].mean() for m in loo])
        mean = float(base_idx.mean())
        floor = math.sqrt(max(mean, 1.0 / n) * (1 - min(mean, 0.5)) * SPECKLE_CORRELATION_PX / n)
        sd = max(float(base_idx.std(ddof=1)), floor)
        series = []
        for d, m in zip(dates, [*loo, *later], strict=True):
            idx = float(m[a.mask].mean())
            z = (idx - mean) / sd
            series.append(
                {
                    "date": d,
                    "index": round(idx, 5),
                    "z": round(z, 2),
                    "p_value": float(norm.sf(z)),
                    "baseline": d in dates[:baseline_dates],
                    "gathering": bool(d not in dates[:baseline_dates] and z > z_gathering),
                }
            )
        report_areas[a.name] = {
            "pixels": n,
            "baseline_mean": round(mean, 5),
            "baseline_sd": round(sd, 5),
            "series": series,
        }
    return ActivityReport(
        modality=modality,
        dates=list(dates),
        baseline_dates=list(dates[:baseline_dates]),
        areas=report_areas,
        notes=notes,
    )


def read_stack(
    paths: Sequence[str | Path], *, bands: int | None = 1
) -> tuple[list[np.ndarray], geo.RasterInfo]:
    """Co-registered rasters of one site as arrays (band 1, or all bands last when ``bands`` is None)."""
    import rasterio

    infos = [geo.open_raster(p) for p in paths]
    first = infos[0]
    out = []
    for info in infos:
        if (info.width, info.height, info.crs, info.transform) != (
            first.width,
            first.height,
            first.crs,
            first.transform,
        ):
            raise ValidationError(f"not on the grid of {first.path.name}", subject=info.path)
        if info.width * info.height > geo.WHOLE_READ_LIMIT:
            raise BadInputError("too large for an activity series: crop the site first", subject=info.path)
        with rasterio.open(info.path) as ds:
            data = (
                ds.read(bands).astype(np.float32)
                if bands
                else np.moveaxis(ds.read().astype(np.float32), 0, -1)
            )
        out.append(data)
    return out, first
