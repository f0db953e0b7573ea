"""The audit log as the web routes knew it; it lives in ``imint.store.audit`` (kept for existing imports)."""

from __future__ import annotations

from imint.store.audit import entries, log, read, record, to_dict

__all__ = ["entries", "log", "read", "record", "to_dict"]
