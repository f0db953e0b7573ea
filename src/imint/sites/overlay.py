"""A scene as a picture in lon, lat: warped to EPSG:4326 so a web map or a plot can lay it under points.

Leaflet's ``L.imageOverlay`` stretches an image between two corners (south-west, north-east) in
degrees, i.e. it assumes the image is on a regular lon/lat grid. A scene in UTM (or any other CRS)
is therefore *warped* (rasterio ``reproject``, bilinear) to EPSG:4326 first; the corners returned
are those of the warped grid, and pixels outside the scene are transparent.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

from imint.errors import ValidationError
from imint.sites import geo
from imint.sites.service import Scene, _display8, raster_info

WGS84 = "EPSG:4326"


@dataclass
class Overlay:
    """An RGBA image (h, w, 4) on a regular lon/lat grid and its corners [[south, west], [north, east]]."""

    rgba: np.ndarray
    bounds: list[list[float]]

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(west, east, south, north), as matplotlib's ``imshow(extent=...)`` takes it."""
        (s, w), (n, e) = self.bounds
        return w, e, s, n

    def png(self) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.rgba, "RGBA").save(buf, "PNG", optimize=True)
        return buf.getvalue()


def _grids(scene: Scene, max_side: int) -> tuple:
    """Decimated source grid (transform, w, h) and warped lon/lat grid (transform, w, h) of a scene."""
    from affine import Affine
    from rasterio.warp import calculate_default_transform

    if not scene.georeferenced or not scene.crs or not scene.transform:
        raise ValidationError("the scene has no georeference: it cannot be placed on a map", subject=scene.id)
    scale = min(1.0, max_side / max(scene.width, scene.height))  # as geo.read_overview decimates
    w, h = max(1, round(scene.width * scale)), max(1, round(scene.height * scale))
    src_transform = Affine(*scene.transform[:6]) @ Affine.scale(scene.width / w, scene.height / h)
    dst_transform, dst_w, dst_h = calculate_default_transform(
        scene.crs, WGS84, w, h, *_bounds(src_transform, w, h)
    )
    # Keep the warped picture about as large as the decimated one.
    factor = max(dst_w, dst_h) / max_side
    if factor > 1:
        dst_w, dst_h = max(1, round(dst_w / factor)), max(1, round(dst_h / factor))
        dst_transform = dst_transform @ Affine.scale(factor, factor)
    return src_transform, w, h, dst_transform, dst_w, dst_h


def _corners(dst_transform, dst_w: int, dst_h: int) -> list[list[float]]:  # noqa: ANN001 - Affine
    west, north = dst_transform @ (0, 0)
    east, south = dst_transform @ (dst_w, dst_h)
    return [[float(south), float(west)], [float(north), float(east)]]


def scene_overlay(scene: Scene, *, max_side: int = 1024) -> Overlay:
    """The scene, decimated to ``max_side`` and warped to EPSG:4326, grey, transparent outside the scene."""
    from rasterio.warp import Resampling, reproject

    src_transform, w, h, dst_transform, dst_w, dst_h = _grids(scene, max_side)
    info = raster_info(scene)
    small, _ = geo.read_overview(info, max_side=max_side)
    if small.shape != (h, w):
        raise ValidationError(f"overview is {small.shape}, expected {(h, w)}", subject=scene.original_name)
    if scene.modality == "SAR" and info.dtype != "uint8" and info.tags.get("SAR_QUANTITY") == "intensity":
        small = np.sqrt(np.maximum(small, 0))  # amplitude reads better than intensity
    grey = _display8(small).astype(np.float32)
    valid = np.isfinite(small).astype(np.float32)
    out = np.zeros((2, dst_h, dst_w), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for band, data in enumerate((grey, valid)):
            reproject(
                data,
                out[band],
                src_transform=src_transform,
                src_crs=scene.crs,
                dst_transform=dst_transform,
                dst_crs=WGS84,
                resampling=Resampling.bilinear,
                dst_nodata=0,
            )
    v = np.clip(out[0], 0, 255).astype(np.uint8)
    alpha = np.where(out[1] > 0.5, 255, 0).astype(np.uint8)
    return Overlay(rgba=np.dstack([v, v, v, alpha]), bounds=_corners(dst_transform, dst_w, dst_h))


def _bounds(transform, w: int, h: int) -> tuple[float, float, float, float]:  # noqa: ANN001 - Affine
    xs, ys = zip(*(transform @ (c, r) for c, r in ((0, 0), (w, 0), (0, h), (w, h))), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def overlay_bounds(scene: Scene, *, max_side: int = 1024) -> list[list[float]] | None:
    """The corners of ``scene_overlay``'s picture without reading a pixel; None without georeference."""
    if not scene.georeferenced or not scene.crs or not scene.transform:
        return None
    _, _, _, dst_transform, dst_w, dst_h = _grids(scene, max_side)
    return _corners(dst_transform, dst_w, dst_h)
