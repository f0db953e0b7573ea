"""Alembic revisions of the faces part (its own branch; see imint.parts.Part.migrations)."""
