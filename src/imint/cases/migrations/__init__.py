"""Alembic revisions of the cases part (its own branch; see imint.parts.Part.migrations)."""
