"""Optical change between two co-registered dates: iteratively reweighted MAD (Nielsen 2007).

The Multivariate Alteration Detection transform pairs the bands of two dates by canonical
correlation; the differences of the canonical variates (MAD variates) are uncorrelated and, for pixels
that did not change, jointly normal, so the sum of their squared standardised values follows a
chi-square law with one degree of freedom per band. iMAD re-weights each pixel by its no-change
probability and repeats until the correlations settle, so the changes themselves stop steering the
statistics. A pixel changed at significance ``alpha`` when its chi-square p-value is below ``alpha``.

This runs on a decimated view (at most ``max_side`` px a side) of both scenes, which is what a
"new activity at a base" signal needs; per-pixel ``alpha`` is not corrected for multiple tests, so
areas smaller than ``min_area_m2`` are dropped.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import linalg, ndimage
from scipy.stats import chi2

from imint.errors import ValidationError


def imad(
    x: np.ndarray, y: np.ndarray, *, max_iter: int = 30, tol: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square change statistic per pixel and the canonical correlations.

    ``x``, ``y``: (h, w, bands) float arrays of the two dates on one grid; NaN marks nodata.
    """
    if x.shape != y.shape:
        raise ValidationError(f"the two images differ in shape ({x.shape} vs {y.shape})", subject="imad")
    h, w, p = x.shape
    X, Y = x.reshape(-1, p).astype(np.float64), y.reshape(-1, p).astype(np.float64)
    valid = np.isfinite(X).all(1) & np.isfinite(Y).all(1)
    if valid.sum() < 10 * (2 * p + 1):
        raise ValidationError("too few valid pixels shared by the two dates", subject="imad")
    Xv, Yv = X[valid], Y[valid]
    weights = np.ones(len(Xv))
    rho_old = np.zeros(p)
    for _ in range(max_iter):
        wsum = weights.sum()
        mx, my = weights @ Xv / wsum, weights @ Yv / wsum
        dx, dy = Xv - mx, Yv - my
        wdx, wdy = dx * weights[:, None], dy * weights[:, None]
        sxx, syy, sxy = wdx.T @ dx / wsum, wdy.T @ dy / wsum, wdx.T @ dy / wsum
        ridge = 1e-9 * np.eye(p) * max(np.trace(sxx), np.trace(syy), 1e-12)
        sxx, syy = sxx + ridge, syy + ridge
        lam, a = linalg.eigh(sxy @ np.linalg.solve(syy, sxy.T), sxx)
        lam = np.clip(lam, 1e-12, 1 - 1e-9)
        rho = np.sqrt(lam)
        b = np.linalg.solve(syy, sxy.T @ a) / rho
        mads = dx @ a - dy @ b
        var = np.maximum(2 * (1 - rho), 1e-9)
        z = (mads**2 / var).sum(axis=1)
        weights = chi2.sf(z, p)
        if np.max(np.abs(rho - rho_old)) < tol:
            break
        rho_old = rho
    stat = np.full(len(X), np.nan)
    mads_all = (X - mx) @ a - (Y - my) @ b
    stat[valid] = (mads_all[valid] ** 2 / var).sum(axis=1)
    return stat.reshape(h, w), rho


def _read_stack(scene: Any, max_side: int) -> tuple[np.ndarray, float]:
    import rasterio
    from rasterio.enums import Resampling

    scale = min(1.0, max_side / max(scene.width, scene.height))
    out_h, out_w = max(1, round(scene.height * scale)), max(1, round(scene.width * scale))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(scene.stored_path) as ds:
            bands = list(range(1, min(ds.count, 4) + 1))
            data = ds.read(bands, out_shape=(len(bands), out_h, out_w), resampling=Resampling.average)
            data = data.astype(np.float32)
            mask = ds.read_masks(1, out_shape=(out_h, out_w)) > 0
    data[:, ~mask] = np.nan
    return np.moveaxis(data, 0, -1), scale


def new_activity(
    scene_a: Any, scene_b: Any, *, alpha: float = 0.01, max_side: int = 1500, min_area_m2: float = 2e4
) -> list[dict[str, Any]]:
    """Areas that changed significantly from ``scene_a`` to ``scene_b`` (two optical Scenes).

    Each area: GeoJSON ``geometry`` (EPSG:4326, or None in pixel mode), ``pixel_box``, ``area_m2``,
    ``p_value`` (smallest chi-square p-value in it), ``mean_chi2``, ``direction`` (brighter/darker).
    """
    import shapely
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from shapely.geometry import mapping, shape
    from shapely.ops import unary_union

    if not 0 < alpha < 1:
        raise ValidationError(f"significance must be in (0, 1) (got {alpha})", subject="alpha")
    if (scene_a.width, scene_a.height) != (scene_b.width, scene_b.height) or (
        scene_a.georeferenced
        and scene_b.georeferenced
        and (scene_a.crs, scene_a.transform) != (scene_b.crs, scene_b.transform)
    ):
        raise ValidationError(
            "scenes are not co-registered (same grid needed)", subject=scene_b.original_name
        )
    x, scale = _read_stack(scene_a, max_side)
    y, _ = _read_stack(scene_b, max_side)
    p = min(x.shape[2], y.shape[2])
    x, y = x[..., :p], y[..., :p]
    stat, _ = imad(x, y)
    pvals = chi2.sf(np.nan_to_num(stat, nan=0.0), p)
    changed = (pvals < alpha) & np.isfinite(stat)
    changed = ndimage.binary_opening(changed, iterations=1)
    px_m = (scene_a.pixel_size_m or 1.0) / scale
    labels, n = ndimage.label(changed)
    if not n:
        return []
    diff = np.nanmean(y - x, axis=2)
    to_lonlat = None
    if scene_a.georeferenced:
        from pyproj import Transformer

        to_lonlat = Transformer.from_crs(scene_a.crs, "EPSG:4326", always_xy=True).transform
    base = Affine(*scene_a.transform) if scene_a.georeferenced else Affine.identity()
    grid = base * Affine.scale(scene_a.width / changed.shape[1], scene_a.height / changed.shape[0])
    areas = []
    for sl, idx in zip(ndimage.find_objects(labels), range(1, n + 1), strict=True):
        region = labels[sl] == idx
        area_m2 = float(region.sum() * px_m * px_m)
        if area_m2 < min_area_m2:
            continue
        sub = Affine.translation(sl[1].start, sl[0].start)
        polys = [shape(g) for g, v in shapes(region.astype(np.uint8), mask=region, transform=grid * sub) if v]
        geometry = None
        if to_lonlat is not None and polys:
            geom = unary_union(polys)
            geometry = mapping(
                shapely.transform(geom, lambda xy: np.column_stack(to_lonlat(xy[:, 0], xy[:, 1])))
            )
        fx, fy = scene_a.width / changed.shape[1], scene_a.height / changed.shape[0]
        areas.append(
            {
                "geometry": geometry,
                "pixel_box": [sl[1].start * fx, sl[0].start * fy, sl[1].stop * fx, sl[0].stop * fy],
                "area_m2": round(area_m2, 1),
                "p_value": float(pvals[sl][region].min()),
                "mean_chi2": round(float(np.nanmean(stat[sl][region])), 2),
                "direction": "brighter" if float(np.nanmean(diff[sl][region])) > 0 else "darker",
                "alpha": alpha,
            }
        )
    return sorted(areas, key=lambda a: -a["area_m2"])
