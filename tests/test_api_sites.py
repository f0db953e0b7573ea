"""Sites over HTTP: a site, two dated scenes, ship detection as a job, the map data and changes."""

from __future__ import annotations

from tests.api_support import site  # noqa: F401 - pytest fixture


def _scene(tmp_path, name: str, date: str, seed: int) -> bytes:  # noqa: ANN001
    from imint.sites import synthetic

    path = tmp_path / name
    synthetic.make_sar_scene(path, width=512, height=512, n_ships=5, seed=seed, land_seed=1, date=date)
    return path.read_bytes()


def test_site_scenes_detections_map_and_changes(site, tmp_path):  # noqa: ANN001, F811
    r = site.client.post(
        "/sites",
        data={"name": "Golden Horn", "lon": "131.90", "lat": "43.08", "radius_m": "4000"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 201, r.text
    site_id = r.json()["id"]

    for name, date, seed in (("a.tif", "2026-03-01", 1), ("b.tif", "2026-03-08", 2)):
        r = site.client.post(
            f"/sites/{site_id}/scenes",
            files={"scene": (name, _scene(tmp_path, name, date, seed), "image/tiff")},
            data={"date": date},
            headers=site.auth("analyst"),
        )
        assert r.status_code == 202, r.text
        assert site.app.state.jobs.wait_idle(300)
        job = site.client.get(r.json()["job"], headers=site.auth("viewer")).json()["job"]
        assert job["status"] == "done", job
        assert job["result"]["detections"] > 0 and job["progress_total"] > 0

    page = site.client.get(f"/sites/{site_id}.json", headers=site.auth("viewer")).json()
    assert page["map"]["dates"] == ["2026-03-01", "2026-03-08"]
    day = page["map"]["by_date"]["2026-03-01"]
    assert day["detections"]["type"] == "FeatureCollection" and day["detections"]["features"]
    lon, lat = day["detections"]["features"][0]["geometry"]["coordinates"][0][0]
    assert 131 < lon < 133 and 42 < lat < 44  # EPSG:4326
    (south, west), (north, east) = page["map"]["bounds"]
    assert south < 43.08 < north and west < 131.90 < east

    html = site.client.get(
        f"/sites/{site_id}",
        headers={"Authorization": site.auth("viewer")["Authorization"], "Accept": "text/html"},
    ).text
    assert "/static/vendor/leaflet.js" in html and 'id="date-slider"' in html

    scene_id = page["scenes"][0]["id"]
    png = site.client.get(f"/scenes/{scene_id}/quicklook", headers=site.auth("viewer"))
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"

    changes = site.client.get(f"/sites/{site_id}/changes.json", headers=site.auth("viewer")).json()
    assert changes["changes"]["dates"] == ["2026-03-01", "2026-03-08"]
    assert len(changes["changes"]["pairs"]) == 1 and changes["geojson"]["type"] == "FeatureCollection"
    chart = site.client.get(f"/sites/{site_id}/changes/chart", headers=site.auth("viewer"))
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"

    actions = {
        e["action"] for e in site.client.get("/audit.json", headers=site.auth("admin")).json()["entries"]
    }
    assert {"site-add", "scene-add", "detect-ships"} <= actions


def test_a_text_file_is_not_a_scene(site):  # noqa: F811
    site_id = site.client.post(
        "/sites", data={"name": "Port", "lon": "10", "lat": "50"}, headers=site.auth("analyst")
    ).json()["id"]
    r = site.client.post(
        f"/sites/{site_id}/scenes",
        files={"scene": ("scene.tif", b"not a tiff at all", "image/tiff")},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 422 and "scene.tif" in r.json()["detail"]


def test_bad_site_geometry_is_named(site):  # noqa: F811
    r = site.client.post(
        "/sites", data={"name": "Nowhere", "polygon": "{not json"}, headers=site.auth("analyst")
    )
    assert r.status_code == 422 and "polygon" in r.json()["detail"]


def test_areas_activity_overlay_and_coastline(site, tmp_path):  # noqa: ANN001, F811
    import json

    import numpy as np
    from PIL import Image

    from imint.sites import geo, synthetic

    viewer = site.auth("viewer")
    site_id = site.client.post(
        "/sites", data={"name": "Base", "lon": "131.90", "lat": "43.08"}, headers=site.auth("analyst")
    ).json()["id"]
    dates = ["2026-03-01", "2026-03-06", "2026-03-11", "2026-03-16"]
    for d, date in enumerate(dates):
        path = tmp_path / f"b{d}.tif"
        scene = synthetic.make_sar_scene(
            path, width=256, height=256, n_ships=2, land=False, seed=d, date=date
        )
        r = site.client.post(
            f"/sites/{site_id}/scenes",
            files={"scene": (path.name, path.read_bytes(), "image/tiff")},
            data={"detector": "none"},
            headers=site.auth("analyst"),
        )
        assert r.status_code == 201, r.text
    lon, lat = geo.pixel_to_lonlat(scene.crs, scene.transform, np.array([50, 150, 150, 50, 50]),
                                   np.array([50, 50, 150, 150, 50]))  # fmt: skip
    ring = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
    polygon = json.dumps({"type": "Polygon", "coordinates": [ring]})
    r = site.client.post(f"/sites/{site_id}/areas", data={"name": "park", "polygon": polygon}, headers=viewer)
    assert r.status_code == 403  # viewers do not add areas
    r = site.client.post(
        f"/sites/{site_id}/areas", data={"name": "park", "polygon": polygon}, headers=site.auth("analyst")
    )
    assert r.status_code == 201, r.text
    r = site.client.post(
        f"/sites/{site_id}/areas", data={"name": "bad", "polygon": "{no"}, headers=site.auth("analyst")
    )
    assert r.status_code == 422 and "polygon" in r.json()["detail"]

    act = site.client.get(f"/sites/{site_id}/activity.json?claim_dates=2026-03-15", headers=viewer).json()
    assert act["claim_dates"] == ["2026-03-15"] and act["error"] is None
    series = act["activity"]["areas"]["park"]["series"]
    assert [p["date"] for p in series] == dates and act["activity"]["baseline_dates"] == dates[:3]
    chart = site.client.get(f"/sites/{site_id}/activity/chart?claim_dates=2026-03-15", headers=viewer)
    assert chart.status_code == 200 and chart.content[:4] == b"\x89PNG"

    page = site.client.get(f"/sites/{site_id}.json", headers=viewer).json()
    assert page["activity"]["areas"][0]["name"] == "park"
    assert page["map"]["areas"]["features"][0]["properties"]["name"] == "park"
    (overlay,) = page["map"]["by_date"][dates[0]]["overlays"]
    (south, west), (north, east) = overlay["bounds"]
    assert south < 43.08 < north and west < 131.90 < east
    png = site.client.get(overlay["url"], headers=viewer)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    img = np.asarray(Image.open(__import__("io").BytesIO(png.content)))
    assert img.shape[2] == 4 and img[..., 0].std() > 10

    changes = site.client.get(f"/sites/{site_id}/changes.json", headers=viewer).json()
    (area,) = [f for f in changes["geojson"]["features"] if f["properties"]["change"] == "area-activity"]
    assert area["properties"]["name"] == "park" and len(area["properties"]["activity"]) == 4
    assert changes["changes"]["activity"]["areas"][0]["name"] == "park"

    coast = site.client.get(page["map"]["coastline_url"], headers=viewer).json()
    assert coast["type"] == "FeatureCollection" and coast["features"]  # Vladivostok is on the coast
    xs = [x for f in coast["features"] for x, _ in f["geometry"]["coordinates"]]
    assert min(xs) > west - 0.2 and max(xs) < east + 0.2
    html = site.client.get(f"/sites/{site_id}", headers={**viewer, "Accept": "text/html"}).text
    assert "Activity per area of interest" in html and f"/sites/{site_id}/activity/chart" in html
