"""Seeded inputs of the speed benchmarks: wide frames of any width, casino tables.

The speed of rank_metrics and assess_change depends on the number of dates and
metrics, not on what the metrics mean, so the wide frames here are cheap seeded
series (a weekly rhythm, slow drift and noise) rather than the full casino model.
Scenarios that load Postgres or run the pipeline use the casino generator on a
small floor, so the segment step has realistic input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.synthetic.casino import generate_casinos

__all__ = ["SMALL_FLOOR", "casino_tables", "wide_frame"]

# 3 x 3 x 2 x 2 = 36 leaves per casino and day: keeps loading 200 casinos quick.
SMALL_FLOOR = {
    "zone": ("main_north", "non_smoking", "high_limit"),
    "denomination": ("0.01", "0.25", "1.00"),
    "game_type": ("video_reels", "video_poker"),
    "player_tier": ("uncarded", "gold"),
}

_WEEKLY = np.array([0.85, 0.86, 0.90, 0.95, 1.18, 1.38, 1.05])


def wide_frame(
    *, n_metrics: int, start: str, end: str, seed: int, date_col: str = "day"
) -> pd.DataFrame:
    """One casino's wide daily table: ``day``, ``coin_in`` and ``m001`` ... metrics.

    Each metric is a positive series with the weekly rhythm; a third of them
    follow coin-in, so rankings are not all noise.
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    rhythm = _WEEKLY[days.day_of_week.to_numpy()]
    drift = np.exp(np.cumsum(rng.normal(0.0, 0.01, len(days))))
    kpi = 4.0e6 * rhythm * drift * np.exp(rng.normal(0.0, 0.05, len(days)))
    columns: dict[str, object] = {date_col: days, "coin_in": np.round(kpi, 2)}
    for i in range(1, n_metrics + 1):
        level = rng.uniform(1.0, 1.0e5)
        noise = np.exp(rng.normal(0.0, rng.uniform(0.02, 0.2), len(days)))
        shape = kpi / kpi.mean() if i % 3 == 0 else rhythm
        columns[f"m{i:03d}"] = np.round(level * shape * noise, 4)
    return pd.DataFrame(columns)


def casino_tables(
    *, n_casinos: int, start: str, end: str, seed: int = 7
) -> dict[str, pd.DataFrame]:
    """Source tables of generated casinos (small floor), ready for Postgres."""
    data = generate_casinos(
        n_casinos=n_casinos, start=start, end=end, seed=seed, dimensions=SMALL_FLOOR
    )
    assert data.segments is not None
    return {"casino_daily": data.daily, "casino_segment_daily": data.segments}
