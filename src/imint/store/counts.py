"""Row counts for overview pages, by table name, so a shell counts a part's records without importing it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from imint.store.db import Base


def count_rows(ws: Any, table: str, **equal: Any) -> int:
    """Rows of ``table`` whose columns equal ``equal``; 0 when no loaded part defines the table."""
    t = Base.metadata.tables.get(table)
    if t is None:
        return 0
    q = select(func.count()).select_from(t)
    for column, value in equal.items():
        q = q.where(t.c[column] == value)
    with ws.session() as s:
        return int(s.scalar(q) or 0)
