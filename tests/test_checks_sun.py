"""Sun position (NOAA algorithm) and the time window a shadow allows."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from imint.checks.sun import shadow_ratio, shadow_time_window, sun_position


@pytest.mark.parametrize(
    ("when", "lat", "lon"),
    [
        (dt.datetime(2024, 6, 21, 12, 0, tzinfo=dt.UTC), 52.52, 13.40),
        (dt.datetime(2023, 12, 1, 6, 30, tzinfo=dt.UTC), -33.87, 151.21),
        (dt.datetime(2025, 3, 20, 15, 45, tzinfo=dt.UTC), 40.71, -74.0),
        (dt.datetime(2022, 9, 1, 3, 10, tzinfo=dt.UTC), 39.03, 125.75),
    ],
)
def test_matches_astral_an_independent_implementation(when, lat, lon) -> None:
    from astral import Observer
    from astral import sun as astral_sun

    az, el = sun_position(when, lat, lon)
    assert az == pytest.approx(astral_sun.azimuth(Observer(lat, lon), when), abs=0.05)
    assert el == pytest.approx(astral_sun.elevation(Observer(lat, lon), when), abs=0.05)


def test_known_geometry() -> None:
    # June solstice, on the Tropic of Cancer, at Greenwich's solar noon (12:00 UTC less the equation of
    # time, about -1.8 min): the sun is overhead.
    _, el = sun_position(dt.datetime(2024, 6, 20, 12, 2, tzinfo=dt.UTC), 23.44, 0.0)
    assert el == pytest.approx(90, abs=0.5)
    # The March equinox at the equator at 06:07 UTC on the prime meridian: the sun is near the horizon, due east.
    az, el = sun_position(dt.datetime(2024, 3, 20, 6, 7, tzinfo=dt.UTC), 0.0, 0.0)
    assert az == pytest.approx(90, abs=1.0) and abs(el) < 1.0
    with pytest.raises(ValueError, match="timezone-aware"):
        sun_position(dt.datetime(2024, 3, 20, 6, 7), 0.0, 0.0)


def test_shadow_window_contains_the_true_time_and_not_a_wrong_one() -> None:
    lat, lon, day = 48.85, 2.35, dt.date(2024, 5, 5)
    truth = dt.datetime(2024, 5, 5, 8, 20, tzinfo=dt.UTC)
    _, el = sun_position(truth, lat, lon)
    # A 10 m pole on flat ground: shadow 10 / tan(el); in the picture top (100, 100), base (100, 300).
    shadow_px = 200 / math.tan(math.radians(el))
    tip = (100 + shadow_px, 300)
    assert shadow_ratio((100, 100), (100, 300), tip) == pytest.approx(1 / math.tan(math.radians(el)))
    w = shadow_time_window(
        lat, lon, day, top=(100, 100), base=(100, 300), tip=tip, tolerance=0.05, claimed=truth
    )
    assert w.claimed_consistent is True
    assert len(w.intervals) == 2  # the same elevation in the morning and the afternoon
    wrong = shadow_time_window(
        lat,
        lon,
        day,
        top=(100, 100),
        base=(100, 300),
        tip=tip,
        tolerance=0.05,
        claimed=dt.datetime(2024, 5, 5, 11, 50, tzinfo=dt.UTC),
    )
    assert wrong.claimed_consistent is False
    # With the shadow's direction known (north-up imagery) only the morning interval is left.
    az, _ = sun_position(truth, lat, lon)
    directed = shadow_time_window(
        lat, lon, day, ratio=w.ratio, tolerance=0.05, shadow_bearing_deg=(az + 180) % 360
    )
    assert len(directed.intervals) == 1 and directed.intervals[0][0] <= truth <= directed.intervals[0][1]
