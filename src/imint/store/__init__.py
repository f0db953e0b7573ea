"""Storage: the SQLite database (SQLAlchemy models, Alembic migrations) and vector indexes."""

from imint.store.db import Base, Database, utcnow

__all__ = ["Base", "Database", "utcnow"]
