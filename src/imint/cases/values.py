"""Figures as ranges with units, and dates as ranges of days.

Claims rarely give one exact number: "10,000 to 12,000 troops", "as many as
12,000", "1,500". A figure is kept as ``low``–``high`` (equal for an exact figure;
``low`` open for "up to") with its unit, so figures of different sources about the
same quantity can be put side by side. Dates are inclusive ISO day ranges; a month
("2024-10") or a year stands for all its days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from imint.errors import ValidationError

_NUMBER = r"(\d[\d,_ ]*(?:\.\d+)?)\s*([kKmM]|thousand|million)?"
_MULTIPLIERS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}


@dataclass(frozen=True)
class Figure:
    low: float | None  # None: open below ("up to 12,000")
    high: float
    unit: str

    def __str__(self) -> str:
        return format_figure(self.low, self.high, self.unit)


def _number(digits: str, multiplier: str | None) -> float:
    value = float(digits.replace(",", "").replace("_", "").replace(" ", ""))
    if multiplier:
        value *= _MULTIPLIERS[multiplier.lower()]
    return value


def parse_figure(text: str, unit: str = "") -> Figure:
    """Parse '10,000-12,000 troops', '1500 troops', 'up to 12k troops', '≤12000'.

    An inverted range (high below low) or a negative number is refused rather than
    silently swapped: it usually means a typing error in a figure that matters.
    """
    raw = (text or "").strip()
    if not raw:
        raise ValidationError("empty figure", subject="figure")
    s = raw.replace("–", "-").replace("—", "-").replace("≤", "<=")
    open_low = False
    m = re.match(r"^(?:up to|as many as|as high as|at most|<=|<)\s*", s, re.IGNORECASE)
    if m:
        open_low = True
        s = s[m.end() :]
    if s.startswith("-"):
        raise ValidationError(f"a figure cannot be negative: {raw!r}", subject="figure")
    m = re.match(rf"^{_NUMBER}\s*(?:(?:-|to|\.\.)\s*{_NUMBER})?\s*(.*)$", s, re.IGNORECASE)
    if not m:
        raise ValidationError(
            f"cannot read a figure in {raw!r}: write e.g. '10000-12000 troops' or 'up to 12000 troops'",
            subject="figure",
        )
    low = _number(m.group(1), m.group(2))
    high = _number(m.group(3), m.group(4)) if m.group(3) else low
    rest = m.group(5).strip()
    if rest.startswith("-"):
        raise ValidationError(f"a figure cannot be negative: {raw!r}", subject="figure")
    unit_text = (unit or rest).strip()
    if high < low:
        raise ValidationError(
            f"inverted range in {raw!r}: the upper bound {high:g} is below the lower bound {low:g}",
            subject="figure",
        )
    if open_low and m.group(3):
        raise ValidationError(f"'up to' takes one number, not a range: {raw!r}", subject="figure")
    return Figure(low=None if open_low else low, high=high, unit=unit_text)


def format_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def format_figure(low: float | None, high: float | None, unit: str) -> str:
    if high is None:
        return ""
    unit_part = f" {unit}" if unit else ""
    if low is None:
        return f"up to {format_number(high)}{unit_part}"
    if low == high:
        return f"{format_number(high)}{unit_part}"
    return f"{format_number(low)}–{format_number(high)}{unit_part}"


def _parse_day(text: str, *, end: bool) -> dt.date:
    """'2024-10-08' -> that day; '2024-10' / '2024' -> first (or last, if end) day."""
    t = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            return dt.date.fromisoformat(t)
        if re.fullmatch(r"\d{4}-\d{2}", t):
            year, month = int(t[:4]), int(t[5:])
            day = calendar.monthrange(year, month)[1] if end else 1
            return dt.date(year, month, day)
        if re.fullmatch(r"\d{4}", t):
            return dt.date(int(t), 12, 31) if end else dt.date(int(t), 1, 1)
    except ValueError as exc:
        raise ValidationError(f"impossible date {text!r} ({exc})", subject="date") from None
    raise ValidationError(
        f"cannot read date {text!r}: write YYYY-MM-DD, YYYY-MM or YYYY, and a range as FROM/TO",
        subject="date",
    )


def parse_exact_day(text: str) -> str:
    """One ISO day, validated (no 2024-02-30)."""
    t = (text or "").strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        raise ValidationError(f"give a full day YYYY-MM-DD, got {text!r}", subject="date")
    return _parse_day(t, end=False).isoformat()


def parse_date_range(text: str) -> tuple[str, str]:
    """'2024-10-08/2024-10-13' (ISO 8601 interval), '2024-10-08..2024-10-13', '2024-10' or one day."""
    raw = (text or "").strip()
    if not raw:
        raise ValidationError("empty date", subject="date")
    for sep in ("/", ".."):
        if sep in raw:
            first, _, last = raw.partition(sep)
            start, stop = _parse_day(first, end=False), _parse_day(last, end=True)
            break
    else:
        start, stop = _parse_day(raw, end=False), _parse_day(raw, end=True)
    if stop < start:
        raise ValidationError(
            f"inverted date range {raw!r}: it ends ({stop}) before it starts ({start})", subject="date"
        )
    return start.isoformat(), stop.isoformat()


def format_date_range(start: str | None, stop: str | None) -> str:
    if not start:
        return ""
    if not stop or stop == start:
        return start
    return f"{start} – {stop}"
