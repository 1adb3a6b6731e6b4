"""Seeded daily slot-floor tables with planted causes: cases for rank_metrics and
assess_change.

The floor follows DOMAIN.md: about 1,500 units, coin-in about $4-5M a day with the
US regional day-of-week pattern, and the exact identities
``coin_in = games_played * avg_bet`` and ``coin_in = coin_in_carded +
coin_in_uncarded``. Every day is built from a few latent drivers::

    visits        = 9,000 x weekday x trend/season x holiday x weather x noise
    games_played  = visits x games per visit (about 380)
    avg_bet       = $1.30 x weekday bet factor x noise
    coin_in       = games_played x avg_bet            (to the cent)
    coin_in_carded = coin_in x carded share (about 68%), the rest uncarded
    free_play     = 2.2% of carded coin-in x noise, plus any promotion
    theo_win      = coin_in x par (about 8.5%); actual_win = theo_win + luck
    minutes_played, occupancy, unit_days (1,500 less machines down)

plus two series unrelated to play, ``temperature_f`` and ``sensor_count`` (and, on
request, any number of unrelated ``noise_NNN`` series), which are the distractors.

A **planted cause** changes one root on the target day D and lets the identities
carry it to the KPI: ``visits`` (an event or a storm), ``games_played`` (games per
visit, longer sessions), ``avg_bet`` (a high roller) or ``free_play`` (a
promotion that brings extra carded play). A **distractor** is an unrelated series
that jumps on D only.

The **natural standard deviation** of a column on D's weekday is defined two ways,
both measured on the clean table (no cause, no distractor) over the whole period:

* ``"delta"``: the sample standard deviation of the same-weekday week-over-week
  deltas x(t) - x(t - 7) over every t on D's weekday. This is the noise of the
  quantity assess_change judges, so a shift of k of these is a k-sigma event.
* ``"level"``: the sample standard deviation of x(t) over every t on D's weekday,
  i.e. around its weekday mean. It includes the slow drift (trend, seasons,
  holidays) that week-over-week deltas cancel, so it is larger than ``"delta"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.holiday import (
    Holiday,
    USLaborDay,
    USMemorialDay,
    USThanksgivingDay,
)
from scipy.signal import lfilter

__all__ = [
    "CAUSES",
    "KPI",
    "UNRELATED",
    "MetricCase",
    "floor_holidays",
    "make_change_case",
    "make_rank_case",
    "natural_sd",
    "simulate_floor",
]

KPI = "coin_in"
CAUSES: tuple[str, ...] = ("visits", "games_played", "avg_bet", "free_play")
UNRELATED: tuple[str, ...] = ("temperature_f", "sensor_count")
SdKind = Literal["delta", "level"]

WEEKDAY_VOLUME = np.array([0.85, 0.86, 0.90, 0.95, 1.18, 1.38, 1.05])
WEEKDAY_BET = np.array([0.97, 0.97, 0.98, 1.00, 1.03, 1.05, 1.00])
UNITS = 1500
VISITS_PER_DAY = 9000.0
GAMES_PER_VISIT = 380.0
AVG_BET = 1.30
CARDED_SHARE = 0.68
FREE_PLAY_RATE = 0.022
PROMO_PLAYTHROUGH = 8.0
PAR = 0.085
SECONDS_PER_GAME = 6.5
LUCK_SIGMA = 6.8
HISTORY_DAYS = 7 * 15
RANK_EFFECT_SD = (3.0, 6.0)
DISTRACTOR_JUMP_SD = (6.0, 15.0)

_HOLIDAYS = (
    (Holiday("New Year's Day", month=1, day=1), 1.15),
    (USMemorialDay, 1.20),
    (Holiday("Independence Day", month=7, day=4), 1.15),
    (USLaborDay, 1.20),
    (USThanksgivingDay, 0.75),
    (Holiday("Christmas Eve", month=12, day=24), 0.70),
    (Holiday("Christmas Day", month=12, day=25), 0.60),
    (Holiday("New Year's Eve", month=12, day=31), 1.30),
)


def floor_holidays(start: object, end: object) -> pd.Series:
    """The holidays the generator uses between two dates, as a Series of dates.

    The Series is indexed by date and holds the volume factor of each holiday.
    """
    lifts: dict[pd.Timestamp, float] = {}
    for rule, lift in _HOLIDAYS:
        for day in rule.dates(pd.Timestamp(start), pd.Timestamp(end)):  # type: ignore[arg-type]
            lifts[pd.Timestamp(day)] = lift
    return pd.Series(lifts, dtype="float64").sort_index()


@dataclass(frozen=True)
class _Latents:
    dates: pd.DatetimeIndex
    demand: np.ndarray
    games_per_visit: np.ndarray
    bet: np.ndarray
    share: np.ndarray
    free_play_noise: np.ndarray
    speed: np.ndarray
    par: np.ndarray
    luck: np.ndarray
    down: np.ndarray
    temperature: np.ndarray
    sensor: np.ndarray
    extra: np.ndarray
    promo_coin_in: np.ndarray


def _ar1(rng: np.random.Generator, size: int, phi: float, sd: float) -> np.ndarray:
    shocks = rng.normal(0.0, sd, size)
    shocks[0] /= np.sqrt(1 - phi * phi)  # start in the stationary distribution
    series: np.ndarray = lfilter([1.0], [1.0, -phi], shocks)
    return series


def _draw(
    rng: np.random.Generator, dates: pd.DatetimeIndex, extra_metrics: int
) -> _Latents:
    size = len(dates)
    days = np.arange(size)
    weekday = dates.day_of_week.to_numpy()
    season = 0.05 * np.sin(2 * np.pi * (days / 365.25 + rng.uniform()))
    trend = rng.uniform(-0.02, 0.06) * days / 365.25
    holidays = floor_holidays(dates[0], dates[-1])
    lift = holidays.reindex(dates, fill_value=1.0).to_numpy()
    weather = _ar1(rng, size, 0.7, 0.025)
    demand = (
        WEEKDAY_VOLUME[weekday]
        * np.exp(trend + season + weather + rng.normal(0.0, 0.035, size))
        * lift
    )
    day_of_year = dates.day_of_year.to_numpy()
    temperature = 58 + 20 * np.sin(2 * np.pi * (day_of_year - 110) / 365.25)
    return _Latents(
        dates=dates,
        demand=demand,
        games_per_visit=np.exp(rng.normal(0.0, 0.02, size)),
        bet=WEEKDAY_BET[weekday] * np.exp(rng.normal(0.0, 0.02, size)),
        share=CARDED_SHARE
        + 0.02 * np.sin(2 * np.pi * days / 365.25)
        + rng.normal(0.0, 0.01, size),
        free_play_noise=np.exp(rng.normal(0.0, 0.06, size)),
        speed=np.exp(rng.normal(0.0, 0.02, size)),
        par=PAR + rng.normal(0.0, 0.0012, size),
        luck=rng.standard_t(4, size) / np.sqrt(2.0),
        down=rng.poisson(12, size).astype("float64"),
        temperature=temperature + _ar1(rng, size, 0.6, 6.0),
        sensor=rng.poisson(240, size).astype("float64"),
        extra=np.cumsum(rng.normal(0.0, 1.0, (size, extra_metrics)), axis=0)
        + rng.normal(0.0, 3.0, (size, extra_metrics))
        + 100.0,
        promo_coin_in=np.zeros(size),
    )


def _assemble(latents: _Latents) -> pd.DataFrame:
    visits = np.round(VISITS_PER_DAY * latents.demand)
    base_games = np.round(visits * GAMES_PER_VISIT * latents.games_per_visit)
    bet = AVG_BET * latents.bet
    promo_games = np.round(latents.promo_coin_in / bet)
    games = base_games + promo_games
    coin_in = np.round(games * bet, 2)
    carded = np.round((coin_in - promo_games * bet) * latents.share, 2)
    carded = np.round(carded + promo_games * bet, 2)
    free_play = np.round(
        FREE_PLAY_RATE * carded * latents.free_play_noise
        + latents.promo_coin_in / PROMO_PLAYTHROUGH,
        2,
    )
    unit_days = UNITS - latents.down
    minutes = games * SECONDS_PER_GAME * latents.speed / 60.0
    theo_win = np.round(coin_in * latents.par, 2)
    luck = LUCK_SIGMA * np.sqrt(coin_in * bet) * latents.luck
    frame = pd.DataFrame(
        {
            "date": latents.dates,
            "coin_in": coin_in,
            "games_played": games,
            "avg_bet": coin_in / games,
            "coin_in_carded": carded,
            "coin_in_uncarded": np.round(coin_in - carded, 2),
            "free_play": free_play,
            "visits": visits,
            "unit_days": unit_days,
            "minutes_played": np.round(minutes),
            "occupancy": minutes / (unit_days * 1440.0),
            "theo_win": theo_win,
            "actual_win": np.round(theo_win + luck, 2),
            "temperature_f": np.round(latents.temperature, 1),
            "sensor_count": latents.sensor,
        }
    )
    extra = latents.extra.shape[1]
    if extra:
        names = [f"noise_{i:03d}" for i in range(1, extra + 1)]
        frame = pd.concat([frame, pd.DataFrame(latents.extra, columns=names)], axis=1)
    return frame


def simulate_floor(
    *,
    seed: int,
    days: int = 730,
    start: str = "2023-01-02",
    extra_metrics: int = 0,
) -> pd.DataFrame:
    """A clean wide daily table (no planted cause) of ``days`` days from ``start``.

    Columns: ``date``, the play metrics listed in the module docstring,
    ``temperature_f``, ``sensor_count`` and ``extra_metrics`` unrelated series
    ``noise_001``, ... Money is in dollars, rounded to cents.
    """
    dates = pd.date_range(start, periods=days, freq="D")
    return _assemble(_draw(np.random.default_rng(seed), dates, extra_metrics))


def natural_sd(
    frame: pd.DataFrame,
    column: str,
    date_target: object,
    *,
    kind: SdKind = "delta",
    date_col: str = "date",
) -> float:
    """The natural standard deviation of ``column`` on ``date_target``'s weekday.

    ``kind="delta"``: sd (ddof=1) of x(t) - x(t - 7) over every t of that weekday in
    ``frame``; ``kind="level"``: sd (ddof=1) of x(t) over those t. Use the clean
    table: a planted cause would inflate either figure.
    """
    weekday = pd.Timestamp(date_target).weekday()  # type: ignore[arg-type]
    weekdays = pd.DatetimeIndex(frame[date_col]).day_of_week
    same = frame[column][weekdays == weekday]
    if kind == "level":
        return float(same.std(ddof=1))
    if kind != "delta":
        raise ValueError(f"kind must be 'delta' or 'level', got {kind!r}")
    return float(same.diff().dropna().std(ddof=1))


@dataclass(frozen=True)
class MetricCase:
    """One generated explanation case with its ground truth.

    Attributes
    ----------
    frame : pandas.DataFrame
        The wide daily table with the cause (and distractor) planted on D.
    date_target : pandas.Timestamp
        D; the base date is D - 7 days.
    true_metric : str
        The root the cause was planted in, or None for a no-cause case.
    distractor : str or None
        The unrelated column that jumps on D, if any.
    cause : str
        ``"none"`` or one of :data:`CAUSES`.
    effect_sd : float
        The signed change planted in the KPI on D, in natural sd of the KPI.
    sd_kind : str
        Which natural sd ``effect_sd`` is counted in.
    holidays : pandas.Series
        The holiday calendar the table was built with (dates as the index).
    """

    frame: pd.DataFrame
    date_target: pd.Timestamp
    true_metric: str | None
    distractor: str | None
    cause: str
    effect_sd: float
    sd_kind: str
    holidays: pd.Series


def _pick_target(rng: np.random.Generator, latents: _Latents) -> int:
    """A day with enough history whose date and base date are not holidays."""
    holidays = set(floor_holidays(latents.dates[0], latents.dates[-1]).index)
    while True:
        index = int(rng.integers(HISTORY_DAYS, len(latents.dates)))
        day = latents.dates[index]
        if day not in holidays and day - pd.Timedelta(days=7) not in holidays:
            return index


def _plant(latents: _Latents, cause: str, index: int, effect: float) -> _Latents:
    """Move the root of ``cause`` on day ``index`` so that coin-in moves by
    ``effect`` (relative) there."""
    if cause == "free_play":
        promo = latents.promo_coin_in.copy()
        clean_coin_in = _assemble(latents)["coin_in"].iloc[index]
        promo[index] += abs(effect) * clean_coin_in
        return replace(latents, promo_coin_in=promo)
    field = {"visits": "demand", "games_played": "games_per_visit", "avg_bet": "bet"}
    values = getattr(latents, field[cause]).copy()
    values[index] *= 1.0 + effect
    return replace(latents, **{field[cause]: values})


def _case_start(
    seed: int, days: int, start: str, extra_metrics: int
) -> tuple[np.random.Generator, _Latents, pd.DataFrame, int]:
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    latents = _draw(rng, dates, extra_metrics)
    return rng, latents, _assemble(latents), _pick_target(rng, latents)


def make_rank_case(
    *,
    seed: int,
    distractor: bool = False,
    cause: str | None = None,
    days: int = 730,
    start: str = "2023-01-02",
    extra_metrics: int = 0,
) -> MetricCase:
    """A case for rank_metrics: one planted cause on D, optionally a distractor.

    The cause moves coin-in on D by U(3, 6) natural (``"delta"``) sd of coin-in, up
    or down (a promotion only up); ``cause`` is drawn from :data:`CAUSES` unless
    given. The distractor, one of :data:`UNRELATED` drawn at random, jumps on D by
    U(6, 15) of its own natural sd in the direction of the planted KPI change: the
    direction in which it can pass for a driver. The same ``seed`` with and without
    ``distractor`` gives the same table, D and cause, so the two are paired.
    """
    rng, latents, clean, index = _case_start(seed, days, start, extra_metrics)
    target = latents.dates[index]
    chosen = cause if cause is not None else CAUSES[int(rng.integers(len(CAUSES)))]
    if chosen not in CAUSES:
        raise ValueError(f"cause must be one of {CAUSES}, got {chosen!r}")
    sign = 1.0 if chosen == "free_play" else float(rng.choice([-1.0, 1.0]))
    size = sign * rng.uniform(*RANK_EFFECT_SD)
    sd = natural_sd(clean, KPI, target)
    effect = max(size * sd / clean[KPI].iloc[index], -0.6)
    frame = _assemble(_plant(latents, chosen, index, effect))

    # Drawn after everything else so that the paired clean case is identical.
    noise = np.random.default_rng([seed, 1])
    name = UNRELATED[int(noise.integers(len(UNRELATED)))]
    jump = sign * noise.uniform(*DISTRACTOR_JUMP_SD) * natural_sd(clean, name, target)
    if distractor:
        values = frame[name].to_numpy(dtype="float64", copy=True)
        values[index] = round(values[index] + jump, 1)
        frame[name] = values
    return MetricCase(
        frame=frame,
        date_target=target,
        true_metric=chosen,
        distractor=name if distractor else None,
        cause=chosen,
        effect_sd=float(size),
        sd_kind="delta",
        holidays=floor_holidays(latents.dates[0], latents.dates[-1]),
    )


def make_change_case(
    *,
    seed: int,
    shift_sd: float,
    sd_kind: SdKind = "delta",
    days: int = 730,
    start: str = "2023-01-02",
) -> MetricCase:
    """A case for assess_change: coin-in on D moved by ``shift_sd`` natural sd.

    ``shift_sd=0`` is a no-cause day. Otherwise a demand cause (visits) moves
    coin-in on D by exactly ``shift_sd`` natural sd of kind ``sd_kind``, up or down
    at random. D and its base date are never holidays.
    """
    rng, latents, clean, index = _case_start(seed, days, start, 0)
    target = latents.dates[index]
    sign = float(rng.choice([-1.0, 1.0]))
    frame = clean
    if shift_sd:
        sd = natural_sd(clean, KPI, target, kind=sd_kind)
        effect = max(sign * shift_sd * sd / clean[KPI].iloc[index], -0.9)
        frame = _assemble(_plant(latents, "visits", index, effect))
    return MetricCase(
        frame=frame,
        date_target=target,
        true_metric="visits" if shift_sd else None,
        distractor=None,
        cause="visits" if shift_sd else "none",
        effect_sd=sign * float(shift_sd),
        sd_kind=sd_kind,
        holidays=floor_holidays(latents.dates[0], latents.dates[-1]),
    )
