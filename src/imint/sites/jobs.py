"""The sites part's background jobs (``SitesPart.jobs()``)."""

from __future__ import annotations

from typing import Any

from imint.api import audit
from imint.api.jobs import JobContext
from imint.sites.service import detect_ships, get_scene, site_id_of


def site_detect_job(ctx: JobContext) -> dict[str, Any]:
    """Find ships in one scene, tile by tile (progress is the tile count)."""
    ws = ctx.ws.as_user(ctx.user)
    scene_id = ctx.params["scene_id"]

    def on_tile(done: int, total: int) -> None:
        ctx.progress(done, total, f"scene {scene_id}: tile {done}/{total}")

    found = detect_ships(ws, scene_id, detector=ctx.params.get("detector", "cfar"), on_tile=on_tile)
    scene = get_scene(ws, scene_id)
    with ctx.ws.session() as s:
        audit.record(
            s,
            actor=ctx.user,
            action="detect-ships",
            target=f"scene {scene_id}",
            via="job",
            site=scene.site,
            detections=len(found),
        )
    site_id = site_id_of(ws, scene.site)
    return {
        "detections": len(found),
        "scene_id": scene_id,
        "link": f"/sites/{site_id}" if site_id else "/sites",
    }
