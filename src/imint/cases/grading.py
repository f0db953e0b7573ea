"""The NATO Admiralty code: source reliability (A–F) and information credibility (1–6).

The two halves answer different questions and are graded separately: a reliable
source (A) can pass on an improbable report (5), and an unknown source (F) can say
something that other sources confirm (1). They are stored apart and only joined for
display ("B3").
"""

from __future__ import annotations

from imint.errors import ValidationError

RELIABILITY: dict[str, str] = {
    "A": "Completely reliable",
    "B": "Usually reliable",
    "C": "Fairly reliable",
    "D": "Not usually reliable",
    "E": "Unreliable",
    "F": "Reliability cannot be judged",
}

CREDIBILITY: dict[int, str] = {
    1: "Confirmed by other sources",
    2: "Probably true",
    3: "Possibly true",
    4: "Doubtful",
    5: "Improbable",
    6: "Truth cannot be judged",
}

STATUSES: tuple[str, ...] = ("claimed", "unconfirmed", "corroborated", "contradicted", "confirmed")
RELATIONS: tuple[str, ...] = ("supports", "contradicts", "context")


def parse_reliability(value: str | None) -> str | None:
    """'b' -> 'B'; None stays None (not graded yet); anything else outside A–F is refused."""
    if value is None or str(value).strip() == "":
        return None
    code = str(value).strip().upper()
    if code not in RELIABILITY:
        raise ValidationError(
            f"source reliability must be one letter A–F (A completely reliable … F cannot be judged), "
            f"got {value!r}",
            subject="reliability",
        )
    return code


def parse_credibility(value: str | int | None) -> int | None:
    """'3' or 3 -> 3; None stays None; anything outside 1–6 is refused."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) not in CREDIBILITY:
        raise ValidationError(
            f"information credibility must be a digit 1–6 (1 confirmed … 6 cannot be judged), got {value!r}",
            subject="credibility",
        )
    return int(text)


def parse_admiralty(code: str) -> tuple[str, int]:
    """'B2' -> ('B', 2): the joined form people type, split into its two halves."""
    text = (code or "").strip().upper()
    if len(text) != 2:
        raise ValidationError(
            f"an Admiralty code is a letter A–F and a digit 1–6, like 'B2'; got {code!r}", subject="grading"
        )
    reliability = parse_reliability(text[0])
    credibility = parse_credibility(text[1])
    assert reliability is not None and credibility is not None
    return reliability, credibility


def admiralty_label(reliability: str | None, credibility: int | None) -> str:
    """'B2', or '–' for a half not graded yet ('B–')."""
    return f"{reliability or '–'}{credibility if credibility is not None else '–'}"


def admiralty_meaning(reliability: str | None, credibility: int | None) -> str:
    parts = [
        f"source: {RELIABILITY[reliability].lower()}" if reliability else "source: not graded",
        f"information: {CREDIBILITY[credibility].lower()}" if credibility else "information: not graded",
    ]
    return "; ".join(parts)


def parse_status(value: str) -> str:
    status = (value or "").strip().lower()
    if status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}; got {value!r}", subject="status")
    return status


def parse_relation(value: str) -> str:
    relation = (value or "").strip().lower()
    if relation not in RELATIONS:
        raise ValidationError(f"a link is one of {', '.join(RELATIONS)}; got {value!r}", subject="relation")
    return relation
