"""What changed at a site between dates: ships matched by distance, counts per date, a chart.

Detections of consecutive dates are paired one-to-one by the Hungarian method on great-circle
distance; a pair closer than ``match_distance_m`` (xView3 uses 200 m) is a ship that *stayed*, a ship
left unpaired on the earlier date *departed*, one left unpaired on the later date *arrived*.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imint.errors import ImintError, ValidationError
from imint.records import Detections
from imint.sites.matching import match_points
from imint.sites.service import get_site, list_scenes, stored_detections


@dataclass
class ChangePair:
    """One date pair: arrivals, departures and stayed ships (points are dicts with lon, lat, score)."""

    date_a: str
    date_b: str
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    departures: list[dict[str, Any]] = field(default_factory=list)
    stayed: list[dict[str, Any]] = field(default_factory=list)  # {"a": point, "b": point, "distance_m": d}
    new_activity: list[dict[str, Any]] = field(default_factory=list)  # optical change areas (iMAD)

    def summary(self) -> dict[str, Any]:
        return {
            "date_a": self.date_a,
            "date_b": self.date_b,
            "arrivals": len(self.arrivals),
            "departures": len(self.departures),
            "stayed": len(self.stayed),
            "new_activity_areas": len(self.new_activity),
        }


@dataclass
class ChangeReport:
    site: str
    match_distance_m: float
    dates: list[str]
    counts: dict[str, int]
    pairs: list[ChangePair]
    units: str = "m"  # "px" when the site's scenes are in pixel mode
    notes: list[str] = field(default_factory=list)
    # Detections on learnt fixed infrastructure (piers, buoys), per date; not in counts nor in the pairs.
    infrastructure: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    static_targets: list[dict[str, Any]] = field(default_factory=list)  # pixel boxes of the fixed mask

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "match_distance_m": self.match_distance_m,
            "units": self.units,
            "dates": self.dates,
            "counts": self.counts,
            "pairs": [asdict(p) | {"summary": p.summary()} for p in self.pairs],
            "notes": self.notes,
            "infrastructure": self.infrastructure,
            "infrastructure_counts": {d: len(v) for d, v in self.infrastructure.items()},
            "static_targets": self.static_targets,
        }

    def to_geojson(self) -> dict[str, Any]:
        """Arrivals and departures as Points, stayed ships as LineStrings (from, to), EPSG:4326."""
        features: list[dict[str, Any]] = []

        def point(p: dict[str, Any]) -> dict[str, Any] | None:
            return None if p.get("lon") is None else {"type": "Point", "coordinates": [p["lon"], p["lat"]]}

        for day, items in self.infrastructure.items():
            for p in items:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": point(p),
                        "properties": {"site": self.site, "date": day, "change": "infrastructure"}
                        | {"score": p["score"], "detection_id": p["id"]},
                    }
                )
        for pair in self.pairs:
            base = {"site": self.site, "date_a": pair.date_a, "date_b": pair.date_b}
            for kind, items in (("arrival", pair.arrivals), ("departure", pair.departures)):
                for p in items:
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": point(p),
                            "properties": base
                            | {"change": kind, "score": p["score"], "detection_id": p["id"]},
                        }
                    )
            for st in pair.stayed:
                a, b = st["a"], st["b"]
                geom = None
                if a.get("lon") is not None:
                    geom = {"type": "LineString", "coordinates": [[a["lon"], a["lat"]], [b["lon"], b["lat"]]]}
                features.append(
                    {
                        "type": "Feature",
                        "geometry": geom,
                        "properties": base | {"change": "stayed", "distance_m": st["distance_m"]},
                    }
                )
            for area in pair.new_activity:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": area.get("geometry"),
                        "properties": base
                        | {"change": "new-activity"}
                        | {k: v for k, v in area.items() if k != "geometry"},
                    }
                )
        return {"type": "FeatureCollection", "features": features}

    def chart_png(self, path: str | Path) -> Path:
        """Ships per date (bars) with arrivals and departures between dates (markers)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(self.dates) + 2), 3.6), dpi=120)
        x = np.arange(len(self.dates))
        ax.bar(x, [self.counts[d] for d in self.dates], color="#4c72b0", label="ships detected")
        if self.pairs:
            mid = x[1:] - 0.5
            ax.plot(mid, [len(p.arrivals) for p in self.pairs], "^", color="#2ca02c", ms=9, label="arrivals")
            ax.plot(
                mid, [len(p.departures) for p in self.pairs], "v", color="#d62728", ms=9, label="departures"
            )
        ax.set_xticks(x, self.dates, rotation=30, ha="right")
        ax.set_ylabel("count")
        ax.set_title(f"{self.site}: ships per date (match within {self.match_distance_m:g} {self.units})")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        tmp = out.with_suffix(".tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(out)
        return out


def _point(d: dict[str, Any]) -> dict[str, Any]:
    """A stored detection as a change point."""
    return {
        "id": d["id"],
        "lon": d["lon"],
        "lat": d["lat"],
        "score": round(d["score"], 4),
        "box": d["box"],
        "scene_id": d["scene_id"],
    }


@dataclass
class _DatedDetections:
    """A site's stored detections pooled per day, and the first optical scene of each day."""

    by_date: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    optical_by_date: dict[str, Any] = field(default_factory=dict)
    scene_by_date: dict[str, Any] = field(default_factory=dict)  # the first scene of each day
    scenes: list[Any] = field(default_factory=list)
    pixel_mode: bool = False  # some scene has no georeference: detections carry pixel centres x, y


def _detections_by_date(ws, scenes: list[Any], detector: str | None, notes: list[str]) -> _DatedDetections:  # noqa: ANN001
    dated = _DatedDetections()
    for sc in scenes:
        if not sc.date:
            notes.append(f"scene {sc.id} ({sc.original_name}) has no date and is left out")
            continue
        day = sc.date[:10]
        dets = stored_detections(ws, sc, detector)
        if not sc.georeferenced:
            dated.pixel_mode = True
            for d in dets:
                cx, cy = (d["box"][0] + d["box"][2]) / 2, (d["box"][1] + d["box"][3]) / 2
                d["x"], d["y"] = cx, cy
        dated.by_date.setdefault(day, []).extend(dets)
        dated.scene_by_date.setdefault(day, sc)
        dated.scenes.append(sc)
        if sc.modality == "optical":
            dated.optical_by_date.setdefault(day, sc)
    return dated


def _set_apart_infrastructure(
    dated: _DatedDetections, dates: list[str], notes: list[str]
) -> list[dict[str, Any]]:
    """Move detections on learnt fixed infrastructure out of ``dated.by_date``; the mask's components.

    Needs at least 3 dates of SAR scenes on one pixel grid (the fixed-target mask is learnt per pixel).
    """
    from imint.sites import cfar, infrastructure
    from imint.sites.activity import read_stack

    if len(dates) < infrastructure.MIN_DATES:
        return []
    first = dated.scene_by_date[dates[0]]
    grid = (first.width, first.height, first.crs, first.transform)
    if any((sc.width, sc.height, sc.crs, sc.transform) != grid for sc in dated.scenes):
        notes.append("scenes are not on one pixel grid: fixed infrastructure not learnt")
        return []
    if any(sc.modality != "SAR" for sc in dated.scenes):
        notes.append("fixed infrastructure is learnt from SAR scenes only: not learnt here")
        return []
    try:
        images, _ = read_stack([dated.scene_by_date[d].stored_path for d in dates])
    except ImintError as exc:  # not co-registered after all, or too large to read whole
        notes.append(f"fixed infrastructure not learnt ({exc})")
        return []
    static = infrastructure.learn_static(
        images, params=cfar.CfarParams(), pixel_size_m=first.pixel_size_m or 1.0, dates=dates
    )
    for day in dates:
        dets = dated.by_date[day]
        if not dets:
            continue
        found = Detections(
            boxes=np.array([d["box"] for d in dets], np.float32).reshape(-1, 4),
            scores=np.array([d["score"] for d in dets], np.float32),
            class_names=[d["class_name"] for d in dets],
            detector_id=dets[0]["detector_id"],
        )
        labelled = infrastructure.label_infrastructure(found, static)
        for d, cls in zip(dets, labelled.class_names, strict=True):
            d["fixed"] = cls == infrastructure.INFRASTRUCTURE
    n_fixed = sum(d.get("fixed", False) for day in dates for d in dated.by_date[day])
    notes.append(
        f"fixed infrastructure learnt from {len(dates)} dates: {n_fixed} detection(s) on it are reported "
        "apart; arrivals and departures count vessels only"
    )
    return static.components()


def _ship_changes(
    date_a: str,
    date_b: str,
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    match_distance_m: float,
    *,
    pixel_mode: bool,
) -> ChangePair:
    """Arrivals, departures and stayed ships between the detections ``a`` of one date and ``b`` of the next."""
    if pixel_mode:
        pa = np.array([[d["x"], d["y"]] for d in a]).reshape(-1, 2)
        pb = np.array([[d["x"], d["y"]] for d in b]).reshape(-1, 2)
        matched, gone, new = match_points(pa, pb, match_distance_m, metric="euclidean")
    else:
        pa = np.array([[d["lon"], d["lat"]] for d in a], np.float64).reshape(-1, 2)
        pb = np.array([[d["lon"], d["lat"]] for d in b], np.float64).reshape(-1, 2)
        matched, gone, new = match_points(pa, pb, match_distance_m)
    return ChangePair(
        date_a=date_a,
        date_b=date_b,
        arrivals=[_point(b[j]) for j in new],
        departures=[_point(a[i]) for i in gone],
        stayed=[
            {"a": _point(a[i]), "b": _point(b[j]), "distance_m": round(dist, 1)} for i, j, dist in matched
        ],
    )


def site_changes(
    ws,  # noqa: ANN001
    site_name: str,
    *,
    match_distance_m: float = 200.0,
    detector: str | None = None,
    optical_alpha: float = 0.01,
    optical_min_area_m2: float = 2e4,
) -> ChangeReport:
    """Ships per date at a site and what changed between consecutive dates.

    Uses the stored detections of each scene (``detector`` = "cfar"/"cnn", default the newest run).
    Several scenes on one date are pooled. Pairs of optical scenes on consecutive dates also get
    iMAD *new activity* areas at significance ``optical_alpha`` (areas under ``optical_min_area_m2``
    are dropped).
    """
    if not (match_distance_m > 0):
        raise ValidationError(
            "match distance must be a positive number of metres", subject="match_distance_m"
        )
    site = get_site(ws, site_name)
    notes: list[str] = []
    dated = _detections_by_date(ws, list_scenes(ws, site.name), detector, notes)
    dates = sorted(dated.by_date)
    if dated.pixel_mode:
        notes.append("some scenes are in pixel mode: matched by pixel distance, without map coordinates")
    static_targets = _set_apart_infrastructure(dated, dates, notes)
    infrastructure_by_date: dict[str, list[dict[str, Any]]] = {}
    if static_targets:
        for day in dates:
            infrastructure_by_date[day] = [_point(d) for d in dated.by_date[day] if d.get("fixed")]
            dated.by_date[day] = [d for d in dated.by_date[day] if not d.get("fixed")]
    pairs: list[ChangePair] = []
    for da, db in zip(dates, dates[1:], strict=False):
        pair = _ship_changes(
            da, db, dated.by_date[da], dated.by_date[db], match_distance_m, pixel_mode=dated.pixel_mode
        )
        if da in dated.optical_by_date and db in dated.optical_by_date:
            try:
                from imint.sites.imad import new_activity

                pair.new_activity = new_activity(
                    dated.optical_by_date[da],
                    dated.optical_by_date[db],
                    alpha=optical_alpha,
                    min_area_m2=optical_min_area_m2,
                )
            except ValidationError as exc:
                notes.append(f"{da} -> {db}: no optical change map ({exc})")
        pairs.append(pair)
    if not dates:
        warnings.warn(f"site {site.name}: no dated scenes with detections yet", UserWarning, stacklevel=2)
    return ChangeReport(
        site=site.name,
        match_distance_m=match_distance_m,
        dates=dates,
        counts={d: len(dated.by_date[d]) for d in dates},
        pairs=pairs,
        units="px" if dated.pixel_mode else "m",
        notes=notes,
        infrastructure=infrastructure_by_date,
        static_targets=static_targets,
    )
