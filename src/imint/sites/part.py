"""The sites part: watched areas, satellite scenes, ships per date and what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imint.parts import Part


def _scene_evidence(session: Any, record_id: int) -> str | None:
    from imint.sites.tables import SceneRow

    scene = session.get(SceneRow, record_id)
    return scene.evidence_sha256 if scene else None


class SitesPart(Part):
    name = "sites"
    title = "Sites"
    table_modules = ("imint.sites.tables",)
    migrations = Path(__file__).parent / "migrations"

    def commands(self, app: Any, eval_app: Any) -> None:
        from imint.sites import cli

        cli.register(app, eval_app)

    def routers(self) -> list[Any]:
        from imint.sites import routes

        return [routes.router]

    def record_types(self) -> dict[str, Any]:
        # Claims link scenes rather than single ship detections: re-running a detector replaces its
        # detections (new ids), while a scene, like its evidence file, stays. ``change:ID`` is what
        # changed at the scene's site between the previous date and this scene's date.
        # ``activity:ID`` is the activity series of the areas of interest at that scene's site.
        return {"scene": _scene_evidence, "change": _scene_evidence, "activity": _scene_evidence}

    def cards(self) -> dict[str, Any]:
        from imint.sites import cards

        return dict(cards.RENDERERS)

    def jobs(self) -> dict[str, Any]:
        from imint.sites import jobs

        return {"site-detect": jobs.site_detect_job}


PART = SitesPart()
