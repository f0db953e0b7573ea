"""checks tables (shim: the revision lives in imint.checks.migrations; the lead may move it)

Revision ID: checks_0001
Revises: 0001_core
"""

from imint.checks.migrations.checks_0001_checks_tables import *  # noqa: F403
