"""Errors that a user can act on.

Every error names the file or field at fault and the reason, so the CLI can print
it as is and the API can return it as a 4xx body with the same text.
"""

from __future__ import annotations

from pathlib import Path


class ImintError(Exception):
    """Base of every error imint raises on purpose."""

    exit_code = 1
    http_status = 400

    def __init__(self, message: str, *, subject: str | Path | None = None) -> None:
        self.subject = str(subject) if subject is not None else None
        self.reason = message
        super().__init__(f"{self.subject}: {message}" if self.subject else message)


class BadInputError(ImintError):
    """A file or request that cannot be used: not an image, truncated, too big..."""

    exit_code = 2
    http_status = 422


class ValidationError(ImintError):
    """A field value that breaks a rule (a grading code, a date range...)."""

    exit_code = 2
    http_status = 422


class NotFoundError(ImintError):
    """A person, case, evidence hash... that the workspace does not hold."""

    exit_code = 3
    http_status = 404


class ConflictError(ImintError):
    """The request contradicts the stored state (a duplicate name, say)."""

    exit_code = 4
    http_status = 409


class StorageError(ImintError):
    """The workspace could not be written or copied whole (a full disk, a backup that failed)."""

    exit_code = 5
    http_status = 507
