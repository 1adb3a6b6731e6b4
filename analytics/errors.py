"""The exceptions and warnings that casino-explain raises.

Every error the project raises on purpose derives from :class:`CasinoExplainError`,
so a caller (the Airflow operators, the HTTP service, the command line) can catch
the whole family in one place and show its message to the user. Errors caused by
the caller's input also derive from :class:`ValueError`.
"""

from __future__ import annotations

__all__ = [
    "CasinoExplainError",
    "ColumnError",
    "DateError",
    "DegenerateInputWarning",
    "DuplicateKeyError",
    "InputError",
    "InsufficientHistoryError",
    "ParameterError",
]


class CasinoExplainError(Exception):
    """Root of every error raised on purpose by casino-explain."""


class InputError(CasinoExplainError, ValueError):
    """The data or the parameters given to an analytics function are unusable."""


class ColumnError(InputError):
    """A column is missing, has the wrong type or holds unusable values."""


class DuplicateKeyError(InputError):
    """A date (or a date and segment) appears more than once."""


class DateError(InputError):
    """A date cannot be parsed, is absent from the data or is in the wrong order."""


class InsufficientHistoryError(InputError):
    """Too few same-weekday dates before the target date to judge it."""


class ParameterError(InputError):
    """A parameter (method, threshold, depth, ...) has a value that is not allowed."""


class DegenerateInputWarning(UserWarning):
    """The input is legal but carries no information, e.g. a KPI that did not move."""
