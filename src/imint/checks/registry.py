"""Every check by name, in the order they run and are shown; groups name several at once."""

from __future__ import annotations

from imint.checks.base import CheckSpec
from imint.checks.c2pa_check import c2pa_check
from imint.checks.copymove import copy_move
from imint.checks.duplicates import first_seen, near_duplicates
from imint.checks.ela import ela
from imint.checks.jpeg import jpeg
from imint.checks.metadata import metadata
from imint.checks.noise import noise

CHECKS: dict[str, CheckSpec] = {
    spec.name: spec
    for spec in (
        CheckSpec("metadata", metadata, "EXIF / XMP / IPTC metadata", cheap=True),
        CheckSpec("c2pa", c2pa_check, "C2PA content credentials", cheap=True),
        # Videos too (keyframes), on demand: on_ingest runs the cheap checks on images only.
        CheckSpec(
            "near_duplicates",
            near_duplicates,
            "Near-duplicates in the workspace",
            ("image", "video"),
            cheap=True,
        ),
        CheckSpec("first_seen", first_seen, "First seen", ("image", "video"), cheap=True),
        CheckSpec("jpeg", jpeg, "JPEG quantisation and re-saves", group="forensics"),
        CheckSpec("ela", ela, "Error level analysis", group="forensics"),
        CheckSpec("noise", noise, "Noise residual consistency", group="forensics"),
        CheckSpec("copy_move", copy_move, "Copy-move (cloned regions)", group="forensics"),
    )
}

GROUPS: dict[str, tuple[str, ...]] = {
    "forensics": tuple(n for n, s in CHECKS.items() if s.group == "forensics"),
    "cheap": tuple(n for n, s in CHECKS.items() if s.cheap),
}
