"""User-facing errors: one clear sentence naming the file, line, field or flag."""

from __future__ import annotations


class MentorError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""

    exit_code = 2


class DataError(MentorError):
    """A data file cannot be read or does not validate."""

    exit_code = 1


class NotFound(MentorError):
    """The request names a model, file, job, app response or store that does not exist (HTTP 404)."""
