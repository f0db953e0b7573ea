"""Alembic revisions of the video part (its own branch, ``video``; see imint.parts.Part.migrations)."""
