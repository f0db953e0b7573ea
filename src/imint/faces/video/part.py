"""The video part: people in videos as tracks and appearances (shares the faces part's engine)."""

from __future__ import annotations

from pathlib import Path

from imint.parts import Part


class VideoPart(Part):
    name = "video"
    title = "Video"
    table_modules = ("imint.faces.video.tables",)
    migrations = Path(__file__).parent / "migrations"  # the ``video`` branch


PART = VideoPart()
