"""Alembic versions of the checks part (branch label ``checks``).

Until the lead adds this package to Alembic's version locations, the store's versions folder holds a
one-line shim (``store/migrations/versions/checks_0001_checks_tables.py``) that re-exports this revision.
"""
