"""User-facing errors: one clear sentence naming the file, line, field or flag."""

from __future__ import annotations


class MentorError(Exception):
    """An error caused by the user's input or environment, shown without a traceback."""

    exit_code = 2


class DataError(MentorError):
    """A data file cannot be read or does not validate."""

    exit_code = 1
