"""Where the sun was, and which times of day a shadow allows.

``sun_position`` is the NOAA solar position algorithm (the NOAA Global Monitoring Laboratory's "General
Solar Position Calculations" spreadsheet, after Meeus, *Astronomical Algorithms*, 1991): good to about
a minute of arc in elevation between 1800 and 2100, with the NOAA refraction correction applied.

A shadow's length gives the sun's elevation: for a vertical object of height ``h`` on flat level ground,
its shadow is ``h / tan(elevation)`` long. In a picture the object and its shadow are given as pixel
points (x to the right, y downwards):

* ``top``: the top of the object (x1, y1);
* ``base``: where it meets the ground (x2, y2);
* ``tip``: the end of its shadow on the ground (x3, y3).

The ratio ``|tip - base| / |top - base|`` is read as shadow length over height. That holds only when both
are seen without foreshortening (an overhead picture of a tall object seen from the side is not; a
picture rectified to the ground plane, or a near-side-on view of both, is roughly); ``tolerance`` widens
the ratio to allow for it. A shadow's direction is only usable when north is known in the picture
(``shadow_bearing_deg``), which an ordinary photo does not give.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np


def _julian_day(when: dt.datetime) -> float:
    utc = when.astimezone(dt.UTC)
    return utc.timestamp() / 86400.0 + 2440587.5


def sun_position(
    when: dt.datetime, lat: float, lon: float, *, refraction: bool = True
) -> tuple[float, float]:
    """Sun azimuth (degrees clockwise from true north) and elevation (degrees above the horizon).

    ``when`` must be timezone-aware; ``lat``/``lon`` in degrees (east positive).
    """
    if when.tzinfo is None:
        raise ValueError("sun_position needs a timezone-aware time (naive times are ambiguous)")
    az, el = sun_positions(np.array([_julian_day(when)]), lat, lon, refraction=refraction)
    return float(az[0]), float(el[0])


def sun_positions(
    jd: np.ndarray, lat: float, lon: float, *, refraction: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """NOAA solar position for an array of Julian days (UT); returns (azimuth, elevation) in degrees."""
    rad, deg = np.radians, np.degrees
    jc = (jd - 2451545.0) / 36525.0
    l0 = np.mod(280.46646 + jc * (36000.76983 + jc * 0.0003032), 360.0)
    m = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    centre = (
        np.sin(rad(m)) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(rad(2 * m)) * (0.019993 - 0.000101 * jc)
        + np.sin(rad(3 * m)) * 0.000289
    )
    true_long = l0 + centre
    omega = 125.04 - 1934.136 * jc
    app_long = true_long - 0.00569 - 0.00478 * np.sin(rad(omega))
    mean_obliq = 23 + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    obliq = mean_obliq + 0.00256 * np.cos(rad(omega))
    decl = deg(np.arcsin(np.sin(rad(obliq)) * np.sin(rad(app_long))))
    y = np.tan(rad(obliq / 2)) ** 2
    eq_time = 4 * deg(
        y * np.sin(2 * rad(l0))
        - 2 * ecc * np.sin(rad(m))
        + 4 * ecc * y * np.sin(rad(m)) * np.cos(2 * rad(l0))
        - 0.5 * y * y * np.sin(4 * rad(l0))
        - 1.25 * ecc * ecc * np.sin(2 * rad(m))
    )  # minutes
    minutes_utc = np.mod(jd - 0.5, 1.0) * 1440.0
    true_solar = np.mod(minutes_utc + eq_time + 4 * lon, 1440.0)
    hour_angle = np.where(true_solar / 4 < 0, true_solar / 4 + 180, true_solar / 4 - 180)
    cos_zen = np.sin(rad(lat)) * np.sin(rad(decl)) + np.cos(rad(lat)) * np.cos(rad(decl)) * np.cos(
        rad(hour_angle)
    )
    zenith = deg(np.arccos(np.clip(cos_zen, -1, 1)))
    denom = np.cos(rad(lat)) * np.sin(rad(zenith))
    cos_az = np.clip(
        (np.sin(rad(lat)) * np.cos(rad(zenith)) - np.sin(rad(decl))) / np.where(denom == 0, 1e-12, denom),
        -1,
        1,
    )
    a = deg(np.arccos(cos_az))
    azimuth = np.where(hour_angle > 0, np.mod(a + 180, 360), np.mod(540 - a, 360))
    elevation = 90 - zenith
    if refraction:
        elevation = elevation + _refraction(elevation)
    return azimuth, elevation


def _refraction(elev: np.ndarray) -> np.ndarray:
    """NOAA's atmospheric refraction correction (degrees) for a true elevation."""
    e = np.asarray(elev, np.float64)
    t = np.tan(np.radians(np.clip(e, -89.0, 89.9)))
    arcsec = np.where(
        e > 85,
        0.0,
        np.where(
            e > 5,
            58.1 / t - 0.07 / t**3 + 0.000086 / t**5,
            np.where(e > -0.575, 1735 + e * (-518.2 + e * (103.4 + e * (-12.79 + e * 0.711))), -20.772 / t),
        ),
    )
    return arcsec / 3600.0


def shadow_ratio(top: tuple[float, float], base: tuple[float, float], tip: tuple[float, float]) -> float:
    """Shadow length over object height from three pixel points (see the module docstring)."""
    height = math.dist(top, base)
    if height <= 0:
        raise ValueError("the object's top and base are the same point")
    return math.dist(tip, base) / height


@dataclass
class ShadowWindow:
    """Times of one day when the sun stood at the elevation the shadow implies."""

    day: dt.date
    ratio: float
    elevation_range: tuple[float, float]  # degrees, from the ratio with its tolerance
    intervals: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)  # UTC
    claimed: dt.datetime | None = None
    claimed_elevation: float | None = None

    @property
    def claimed_consistent(self) -> bool | None:
        if self.claimed is None:
            return None
        return any(a <= self.claimed <= b for a, b in self.intervals)

    def to_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "ratio": round(self.ratio, 4),
            "elevation_range": [round(v, 2) for v in self.elevation_range],
            "intervals_utc": [[a.isoformat(), b.isoformat()] for a, b in self.intervals],
            "claimed": self.claimed.isoformat() if self.claimed else None,
            "claimed_elevation": None if self.claimed_elevation is None else round(self.claimed_elevation, 2),
            "claimed_consistent": self.claimed_consistent,
        }


def shadow_time_window(
    lat: float,
    lon: float,
    day: dt.date,
    *,
    ratio: float | None = None,
    top: tuple[float, float] | None = None,
    base: tuple[float, float] | None = None,
    tip: tuple[float, float] | None = None,
    tolerance: float = 0.15,
    claimed: dt.datetime | None = None,
    shadow_bearing_deg: float | None = None,
    bearing_tolerance_deg: float = 15.0,
    step_s: int = 60,
) -> ShadowWindow:
    """UTC intervals of ``day`` (a UTC calendar day) when the shadow ratio fits, within ``tolerance``.

    Give ``ratio`` or the three pixel points. With ``shadow_bearing_deg`` (direction from base to tip,
    degrees clockwise from true north: usable on north-up imagery only) times whose sun azimuth is not
    opposite the shadow within ``bearing_tolerance_deg`` are removed.
    """
    if ratio is None:
        if top is None or base is None or tip is None:
            raise ValueError("give the shadow ratio, or the object's top and base and the shadow's tip")
        ratio = shadow_ratio(top, base, tip)
    if ratio <= 0:
        raise ValueError("a shadow of zero length needs the sun overhead; give a positive ratio")
    lo_ratio, hi_ratio = ratio * (1 - tolerance), ratio * (1 + tolerance)
    # Longer shadows mean a lower sun: elevation = atan(height / shadow).
    elev_hi = math.degrees(math.atan(1 / lo_ratio))
    elev_lo = math.degrees(math.atan(1 / hi_ratio))
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    times = [start + dt.timedelta(seconds=s) for s in range(0, 86400, step_s)]
    jd = np.array([_julian_day(t) for t in times])
    az, el = sun_positions(jd, lat, lon)
    ok = (el >= elev_lo) & (el <= elev_hi)
    if shadow_bearing_deg is not None:
        expected = np.mod(az + 180, 360)
        diff = np.abs((expected - shadow_bearing_deg + 180) % 360 - 180)
        ok &= diff <= bearing_tolerance_deg
    intervals = []
    i = 0
    while i < len(ok):
        if ok[i]:
            j = i
            while j + 1 < len(ok) and ok[j + 1]:
                j += 1
            intervals.append((times[i], times[j]))
            i = j + 1
        else:
            i += 1
    window = ShadowWindow(day, ratio, (elev_lo, elev_hi), intervals)
    if claimed is not None:
        window.claimed = claimed.astimezone(dt.UTC)
        window.claimed_elevation = sun_position(window.claimed, lat, lon)[1]
        # A claimed time between two sampled minutes counts when it falls inside an interval widened by a step.
        pad = dt.timedelta(seconds=step_s)
        window.intervals = [(a, b + pad - dt.timedelta(seconds=1)) for a, b in intervals]
    return window
