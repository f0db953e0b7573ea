"""Alembic revisions of the sites part (its own branch; see imint.parts.Part.migrations)."""
