"""Recording the warnings raised while a request is answered.

The analytics warn on degenerate but legal input and pandas warns about its own
future; a service should log those, not print them to stderr or (under a strict
warnings filter) fail on them. ``warnings.catch_warnings`` swaps process-wide
state, so the recorded sections run one at a time.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["recorded_warnings"]

logger = logging.getLogger("analytics.service")

_LOCK = threading.RLock()


@contextmanager
def recorded_warnings(context: str) -> Iterator[list[str]]:
    """Run the block with warnings recorded, then log them.

    Parameters
    ----------
    context : str
        Said in each log line, e.g. ``"rank_metrics on data/assetdata.csv"``.

    Yields
    ------
    list of str
        Filled with the warning messages when the block ends.

    Examples
    --------
    >>> with recorded_warnings("example") as messages:
    ...     warnings.warn("the KPI did not move", UserWarning)
    >>> messages
    ['the KPI did not move']
    """
    messages: list[str] = []
    with _LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for warning in caught:
        logger.warning("%s: %s", context, warning.message)
        messages.append(str(warning.message))
