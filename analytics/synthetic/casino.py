"""A seeded generator of casino slot data with planted causes (the ground truth).

The data imitates a mid-size US regional casino (figures in ``docs/demo-data.md``):
a floor of 900 to 2,200 units split into machine groups (zone x denomination x game
type), players split into loyalty tiers, a weekly and yearly rhythm, noise of real
size, luck on the win and a heavy tail of hand-paid jackpots. On chosen days a cause
is planted (a free-play promotion, machines down, a big jackpot, ...) and recorded
with where it acts, so that the analytics can be scored against the truth.

Units: money is in dollars and always a whole number of cents (stored as float64
dollars with at most 2 decimals; :func:`to_cents` recovers the exact integers). All
sums and identities hold exactly on cents. Counts (games, minutes, unit-days, visits)
are integers. The generator does no I/O; :mod:`analytics.io.files` writes the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from analytics._frames import parse_date
from analytics.errors import ParameterError

__all__ = [
    "ADDITIVE_MEASURES",
    "CAUSE_KINDS",
    "DEFAULT_DIMENSIONS",
    "DISTRACTORS",
    "MONEY_MEASURES",
    "PLAYER_COUNTS",
    "RATIO_METRICS",
    "SyntheticCasinoData",
    "generate_casinos",
    "to_cents",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_DIMENSIONS: Mapping[str, tuple[str, ...]] = {
    "zone": (
        "main_north",
        "main_south",
        "non_smoking",
        "promenade",
        "patio",
        "high_limit",
    ),
    "denomination": ("0.01", "0.05", "0.25", "1.00", "5.00", "25.00", "multi"),
    "game_type": ("video_reels", "mechanical_reels", "video_poker", "etg"),
    "player_tier": ("uncarded", "bronze", "silver", "gold", "platinum"),
}
"""The segment dimensions and their members; the first tier is the uncarded one."""

MONEY_MEASURES = (
    "coin_in",
    "coin_in_carded",
    "coin_in_uncarded",
    "coin_out",
    "jackpots",
    "actual_win",
    "theo_win",
    "free_play",
)
"""Additive money measures, in dollars, each a whole number of cents."""

ADDITIVE_MEASURES = (
    *MONEY_MEASURES,
    "games_played",
    "minutes_played",
    "unit_days",
)
"""The measures of the segment table; ``daily`` holds their sums."""

PLAYER_COUNTS = ("visits", "rated_player_days")
"""Counts kept at casino x tier grain (the ``tiers`` table); ``daily`` has totals."""

RATIO_METRICS = (
    "avg_bet",
    "hold_pct",
    "theo_hold",
    "wpupd",
    "occupancy",
    "carded_share",
)
"""Ratios of ``daily``, recomputed from its sums (never summed or averaged)."""

DISTRACTORS = ("temperature_f", "hvac_kwh")
"""Series in ``daily`` that have nothing to do with play."""

CAUSE_KINDS = (
    "free_play_promotion",
    "machines_down",
    "big_jackpot",
    "bad_weather",
    "new_game_install",
    "high_roller",
)
"""The kinds of planted cause, after the table in DOMAIN.md."""

MIN_CAUSE_GAP_DAYS = 14
# 14 weeks: 13 same-weekday history dates before the base date B = D - 7.
_WARMUP_DAYS = 98

# Day-of-week factors, Monday first; divided by their mean so that the
# coin-in per unit per day drawn per casino is the weekly average.
_DOW = np.array([0.85, 0.86, 0.90, 0.95, 1.18, 1.38, 1.05])
_DOW = _DOW / _DOW.mean()


@dataclass(frozen=True)
class _Denomination:
    unit_share: float  # share of a general floor's units
    handle: float  # coin-in per unit relative to a penny unit
    avg_bet: float  # dollars per game
    par: float  # theoretical hold
    jackpot_rate: float  # hand-pays per dollar of coin-in
    games: tuple[str, ...]  # the game types offered in this denomination
    tier_tilt: float  # > 1 shifts play to the higher tiers


_DENOMINATIONS: Mapping[str, _Denomination] = {
    "0.01": _Denomination(0.44, 1.0, 0.85, 0.105, 1.5e-6, ("video_reels",), 1.0),
    "0.05": _Denomination(
        0.08, 0.9, 1.10, 0.095, 2e-6, ("video_reels", "mechanical_reels"), 1.0
    ),
    "0.25": _Denomination(
        0.08,
        0.9,
        1.40,
        0.09,
        3e-6,
        ("video_reels", "mechanical_reels", "video_poker"),
        1.05,
    ),
    "1.00": _Denomination(
        0.07,
        1.3,
        2.60,
        0.065,
        6e-6,
        ("video_reels", "mechanical_reels", "video_poker"),
        1.2,
    ),
    "5.00": _Denomination(
        0.02,
        2.2,
        9.00,
        0.052,
        1.5e-5,
        ("mechanical_reels", "video_poker", "video_reels"),
        1.6,
    ),
    "25.00": _Denomination(0.02, 4.0, 45.0, 0.048, 3e-5, ("mechanical_reels",), 2.2),
    "multi": _Denomination(
        0.23, 1.1, 1.60, 0.10, 2e-6, ("video_reels", "video_poker", "etg"), 1.0
    ),
}
# The high-limit room holds only these; $25 games stand nowhere else.
_HIGH_LIMIT_DENOMINATIONS = frozenset({"1.00", "5.00", "25.00"})
_HIGH_LIMIT_ONLY = frozenset({"25.00"})


@dataclass(frozen=True)
class _GameType:
    unit_share: float
    handle: float
    bet: float  # multiplies the denomination's average bet
    par: float  # multiplies the denomination's par
    games_per_minute: float


_GAME_TYPES: Mapping[str, _GameType] = {
    "video_reels": _GameType(0.68, 1.0, 1.0, 1.0, 9.0),
    "mechanical_reels": _GameType(0.14, 0.8, 1.0, 0.95, 7.0),
    "video_poker": _GameType(0.12, 1.1, 0.9, 0.45, 10.0),
    "etg": _GameType(0.06, 1.4, 1.6, 0.55, 2.5),
}

# Per tier rank (0 = uncarded): share of play, bet multiplier, coin-in per visit
# in dollars, free play as a share of coin-in.
_TIER_SHARE = np.array([0.32, 0.30, 0.20, 0.12, 0.06, 0.04, 0.02])
_TIER_BET = np.array([0.90, 0.95, 1.00, 1.10, 1.30, 1.50, 1.80])
_TIER_SPEND = np.array([350.0, 500.0, 1200.0, 3000.0, 9000.0, 20000.0, 40000.0])
_TIER_FREE_PLAY = np.array([0.0, 0.015, 0.025, 0.035, 0.045, 0.05, 0.055])

# Jackpots: hand-pays of $1,200 or more, Lomax-tailed amounts, capped.
_JACKPOT_FLOOR = 1200.0
_JACKPOT_SHAPE = 1.7
_JACKPOT_CAP = 1_000_000.0
_JACKPOT_MEAN = _JACKPOT_FLOOR * _JACKPOT_SHAPE / (_JACKPOT_SHAPE - 1.0)
_LUCK_PER_SPIN = 6.8


@dataclass(frozen=True)
class SyntheticCasinoData:
    """Generated casino data and the causes planted in it.

    Attributes
    ----------
    daily : pandas.DataFrame
        Wide table, one row per casino and day: ``casino_id``, ``day``, the sums of
        :data:`ADDITIVE_MEASURES`, the totals of :data:`PLAYER_COUNTS`, the
        :data:`RATIO_METRICS` recomputed from the sums and the :data:`DISTRACTORS`.
    segments : pandas.DataFrame or None
        Long table, one row per casino, day and leaf (``zone``, ``denomination``,
        ``game_type``, ``player_tier``) with the additive measures. None when
        generated with ``include_segments=False``.
    tiers : pandas.DataFrame
        ``casino_id``, ``day``, ``player_tier``, ``visits``, ``rated_player_days``.
    causes : pandas.DataFrame
        The ground truth, one row per planted cause: ``casino_id``, ``day``,
        ``kind``, ``root_metric`` (the additive measure whose change the cause
        explains), ``driver_metric`` (the column of ``daily`` that carries the
        cause most directly), ``root_segments`` (segments in
        :func:`analytics.rank_segments` notation joined by ``;``; empty when the
        cause acts everywhere), ``magnitude`` (planted relative change of
        ``root_metric`` in the root segments before noise) and ``detail``.
    dimensions : tuple of str
        The dimension columns of ``segments``, in segment-string order.
    """

    daily: pd.DataFrame
    segments: pd.DataFrame | None
    tiers: pd.DataFrame
    causes: pd.DataFrame
    dimensions: tuple[str, ...] = tuple(DEFAULT_DIMENSIONS)
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def casino_ids(self) -> list[str]:
        """The casino identifiers, in order."""
        return [str(c) for c in pd.unique(self.daily["casino_id"])]

    def daily_for(self, casino_id: str) -> pd.DataFrame:
        """Return one casino's ``daily`` rows without the ``casino_id`` column."""
        return _one_casino(self.daily, casino_id)

    def segments_for(self, casino_id: str) -> pd.DataFrame:
        """Return one casino's ``segments`` rows without the ``casino_id`` column."""
        if self.segments is None:
            raise ParameterError(
                "segments were not generated; call generate_casinos with "
                "include_segments=True"
            )
        return _one_casino(self.segments, casino_id)


def _one_casino(frame: pd.DataFrame, casino_id: str) -> pd.DataFrame:
    rows = frame.loc[frame["casino_id"] == casino_id]
    if rows.empty:
        known = ", ".join(map(str, pd.unique(frame["casino_id"])))
        raise ParameterError(
            f"casino_id={casino_id!r} is not in the data; known: {known}"
        )
    return rows.drop(columns="casino_id").reset_index(drop=True)


def to_cents(values: pd.Series | FloatArray) -> IntArray:
    """Return dollar amounts as exact integer cents.

    Examples
    --------
    >>> to_cents(np.array([0.1, 4523123.45])).tolist()
    [10, 452312345]
    """
    return np.rint(np.asarray(values, dtype=np.float64) * 100.0).astype(np.int64)


# --------------------------------------------------------------------------- floor


@dataclass(frozen=True)
class _Floor:
    """One casino's machine groups (cells) and their fixed attributes."""

    zone: IntArray  # index of the zone of each cell
    denomination: list[str]
    game_type: list[str]
    units: IntArray  # units installed per cell
    productivity: FloatArray  # expected coin-in per unit per average day, dollars
    avg_bet: FloatArray  # (cells, tiers) dollars per game
    tier_weight: FloatArray  # (cells, tiers) share of the cell's play
    par: FloatArray
    games_per_minute: FloatArray
    jackpot_rate: FloatArray
    high_limit: int  # index of the high-limit zone


def _apportion(total: int, weights: FloatArray) -> IntArray:
    """Split a whole number by weights with the largest-remainder rule."""
    quota = total * weights / weights.sum()
    whole = np.floor(quota).astype(np.int64)
    short = total - int(whole.sum())
    order = np.argsort(-(quota - whole), kind="stable")
    whole[order[:short]] += 1
    return np.asarray(whole, dtype=np.int64)


def _stands_in(denomination: str, *, high_limit: bool) -> bool:
    if high_limit:
        return denomination in _HIGH_LIMIT_DENOMINATIONS
    return denomination not in _HIGH_LIMIT_ONLY


def _build_floor(
    rng: np.random.Generator, dims: Mapping[str, tuple[str, ...]]
) -> _Floor:
    zones = dims["zone"]
    high_limit = zones.index("high_limit") if "high_limit" in zones else len(zones) - 1
    zone_share = rng.dirichlet(np.full(len(zones), 6.0))
    zone_share[high_limit] = 0.05
    zone_share /= zone_share.sum()

    cells: list[tuple[int, str, str]] = []
    weights: list[float] = []
    for z in range(len(zones)):
        allowed = [
            (d, g)
            for d in dims["denomination"]
            for g in _DENOMINATIONS[d].games
            if g in dims["game_type"] and _stands_in(d, high_limit=z == high_limit)
        ]
        if not allowed:  # a custom floor may lack every high-limit denomination
            allowed = [(d, _DENOMINATIONS[d].games[0]) for d in dims["denomination"]]
        raw = np.array(
            [
                _DENOMINATIONS[d].unit_share * _GAME_TYPES[g].unit_share
                for d, g in allowed
            ]
        )
        cells += [(z, d, g) for d, g in allowed]
        weights += list(zone_share[z] * raw / raw.sum())

    n_units = int(rng.integers(900, 2201))
    # Two units at least per machine group, so the set of leaves is fixed.
    units = 2 + _apportion(n_units - 2 * len(cells), np.array(weights))
    return _finish_floor(rng, dims, cells, units, high_limit)


def _finish_floor(
    rng: np.random.Generator,
    dims: Mapping[str, tuple[str, ...]],
    cells: list[tuple[int, str, str]],
    units: IntArray,
    high_limit: int,
) -> _Floor:
    n_tiers = len(dims["player_tier"])
    denoms = [_DENOMINATIONS[d] for _, d, _ in cells]
    games = [_GAME_TYPES[g] for _, _, g in cells]
    handle = np.array([d.handle * g.handle for d, g in zip(denoms, games, strict=True)])
    per_unit = rng.uniform(2700.0, 3100.0)
    productivity = handle * per_unit * units.sum() / (handle * units).sum()

    # A casino-level carded share of 60-75% sets the uncarded tier's share.
    base = _TIER_SHARE[:n_tiers].copy()
    base[0] = 0.0
    base = base / base.sum() * (1.0 - rng.uniform(0.31, 0.40))
    base[0] = 1.0 - base[1:].sum()
    tilt = np.array([d.tier_tilt for d in denoms])[:, None] ** np.arange(n_tiers)
    tier_weight = base[None, :] * tilt
    tier_weight /= tier_weight.sum(axis=1, keepdims=True)

    cell_bet = np.array([d.avg_bet * g.bet for d, g in zip(denoms, games, strict=True)])
    return _Floor(
        zone=np.array([z for z, _, _ in cells], dtype=np.int64),
        denomination=[d for _, d, _ in cells],
        game_type=[g for _, _, g in cells],
        units=units,
        productivity=productivity,
        avg_bet=cell_bet[:, None] * _TIER_BET[None, :n_tiers],
        tier_weight=tier_weight,
        par=np.array([d.par * g.par for d, g in zip(denoms, games, strict=True)]),
        games_per_minute=np.array([g.games_per_minute for g in games]),
        jackpot_rate=0.4 * np.array([d.jackpot_rate for d in denoms]),
        high_limit=high_limit,
    )


# ------------------------------------------------------------------- daily rhythm


def _demand(rng: np.random.Generator, days: pd.DatetimeIndex) -> FloatArray:
    """Casino-wide demand multiplier per day: week, season, drift and noise."""
    n = len(days)
    years = np.arange(n) / 365.25
    season = 1.0 + rng.uniform(0.04, 0.08) * np.sin(
        2 * np.pi * (days.day_of_year.to_numpy() - rng.uniform(60, 120)) / 365.25
    )
    drift = np.exp(rng.normal(0.0, 0.03) * years)
    # A slow AR(1) wander of the level: weeks-long good and bad spells.
    shocks = rng.normal(0.0, 0.008, n)
    wander = np.empty(n)
    level = 0.0
    for i in range(n):
        level = 0.93 * level + shocks[i]
        wander[i] = level
    noise = rng.normal(0.0, 0.05, n)
    week = _DOW[days.day_of_week.to_numpy()]
    return np.asarray(week * season * drift * np.exp(wander + noise), dtype=np.float64)


def _distractors(
    rng: np.random.Generator, days: pd.DatetimeIndex
) -> dict[str, FloatArray]:
    doy = days.day_of_year.to_numpy()
    n = len(days)
    temperature = (
        rng.uniform(48, 62)
        + 22 * np.sin(2 * np.pi * (doy - 110) / 365.25)
        + rng.normal(0, 6, n)
    )
    # The building's meter: cooling load plus occasional reading glitches.
    hvac = 9000 + 6.0 * (temperature - 65) ** 2 + rng.normal(0, 400, n)
    glitch = rng.random(n) < 0.03
    hvac = np.where(glitch, hvac * rng.uniform(1.6, 3.0, n), hvac)
    return {
        "temperature_f": np.round(temperature, 1),
        "hvac_kwh": np.round(hvac, 0),
    }


# ------------------------------------------------------------------------- causes


@dataclass
class _Effects:
    """Multipliers and additions that the planted causes apply to one casino."""

    games: FloatArray  # (days, cells, tiers)
    bet: FloatArray  # (days, cells, tiers)
    units: IntArray  # (days, cells) units installed
    units_down: IntArray  # (days, cells)
    visits: FloatArray  # (days, tiers)
    free_play: FloatArray  # (days, tiers)
    rated: FloatArray  # (days, tiers) share of carded visits that are rated
    jackpot_leaf: list[tuple[int, int, int, float]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _new_effects(floor: _Floor, n_days: int, n_tiers: int) -> _Effects:
    n_cells = len(floor.units)
    return _Effects(
        games=np.ones((n_days, n_cells, n_tiers)),
        bet=np.ones((n_days, n_cells, n_tiers)),
        units=np.tile(floor.units, (n_days, 1)),
        units_down=np.zeros((n_days, n_cells), dtype=np.int64),
        visits=np.ones((n_days, n_tiers)),
        free_play=np.ones((n_days, n_tiers)),
        rated=np.full((n_days, n_tiers), 0.92),
    )


def _cause_days(rng: np.random.Generator, n_days: int) -> list[int]:
    days: list[int] = []
    day = _WARMUP_DAYS + int(rng.integers(0, 14))
    while day < n_days:
        days.append(day)
        day += int(rng.integers(MIN_CAUSE_GAP_DAYS, 36))
    return days


def _segment(dims: Sequence[str], **parts: str) -> str:
    return "&".join(f"{d}={parts[d]}" for d in dims if d in parts)


class _Planter:
    """Applies one planted cause of each kind to a casino's effect arrays."""

    def __init__(
        self,
        rng: np.random.Generator,
        floor: _Floor,
        dims: Mapping[str, tuple[str, ...]],
        effects: _Effects,
    ) -> None:
        self.rng = rng
        self.floor = floor
        self.dims = dims
        self.names = tuple(dims)
        self.fx = effects
        expected = floor.productivity * floor.units
        self.zone_play = np.bincount(floor.zone, weights=expected) / expected.sum()

    def plant(self, kind: str, day: int) -> None:
        getattr(self, f"_{kind}")(day)

    def _record(self, day: int, kind: str, **row: Any) -> None:
        self.fx.rows.append({"day_index": day, "kind": kind, **row})

    def _ordinary_zone(self) -> int:
        zones = [z for z in range(len(self.dims["zone"])) if z != self.floor.high_limit]
        return int(self.rng.choice(zones))

    def _free_play_promotion(self, day: int) -> None:
        tiers = self.dims["player_tier"]
        first = int(self.rng.integers(1, max(2, len(tiers) - 1)))
        targeted = list(range(first, min(first + 2, len(tiers))))
        lift = self.rng.uniform(0.35, 0.6)
        self.fx.games[day, :, targeted] *= 1.0 + lift
        self.fx.free_play[day, targeted] *= self.rng.uniform(3.0, 5.0)
        self.fx.visits[day, targeted] *= 1.0 + lift * 0.8
        self.fx.rated[day, targeted] = 0.97
        roots = [_segment(self.names, player_tier=tiers[t]) for t in targeted]
        self._record(
            day,
            "free_play_promotion",
            root_metric="coin_in",
            driver_metric="free_play",
            root_segments=";".join(roots),
            magnitude=lift,
            detail=f"free play mailed to {' and '.join(tiers[t] for t in targeted)} "
            f"players; their play rose {lift:.0%}",
        )

    def _machines_down(self, day: int) -> None:
        zone = self._ordinary_zone()
        share_down = self.rng.uniform(0.5, 0.8)
        in_zone = self.floor.zone == zone
        down = np.rint(self.fx.units[day, in_zone] * share_down).astype(np.int64)
        self.fx.units_down[day, in_zone] = down
        # Part of the lost play walks to machines in other zones.
        lost = share_down * self.zone_play[zone]
        moved = 0.3 * lost / (1.0 - self.zone_play[zone])
        self.fx.games[day, ~in_zone, :] *= 1.0 + moved
        name = self.dims["zone"][zone]
        self._record(
            day,
            "machines_down",
            root_metric="coin_in",
            driver_metric="unit_days",
            root_segments=_segment(self.names, zone=name),
            magnitude=-float(down.sum() / self.fx.units[day, in_zone].sum()),
            detail=f"{int(down.sum())} units down in zone {name} "
            f"({share_down:.0%} of the zone)",
        )

    def _big_jackpot(self, day: int) -> None:
        bets = self.floor.avg_bet[:, -1]
        cell = int(self.rng.choice(np.argsort(-bets)[:4]))
        tier = int(self.rng.integers(1, len(self.dims["player_tier"])))
        amount = round(float(self.rng.uniform(60_000, 400_000)), 2)
        self.fx.jackpot_leaf.append((day, cell, tier, amount))
        denom = self.floor.denomination[cell]
        same = np.array([d == denom for d in self.floor.denomination])
        theo = (self.floor.productivity * self.floor.units * self.floor.par)[same].sum()
        self._record(
            day,
            "big_jackpot",
            root_metric="actual_win",
            driver_metric="jackpots",
            root_segments=_segment(self.names, denomination=denom),
            magnitude=-amount / theo,
            detail=f"a ${amount:,.2f} jackpot on a {denom} "
            f"{self.floor.game_type[cell]} game",
        )

    def _bad_weather(self, day: int) -> None:
        play = self.rng.uniform(0.70, 0.82)
        self.fx.games[day] *= play
        # Fewer people come, and those who do stay longer: spend per visit rises.
        self.fx.visits[day] *= self.rng.uniform(0.78, 0.88)
        self._record(
            day,
            "bad_weather",
            root_metric="coin_in",
            driver_metric="visits",
            root_segments="",
            magnitude=play - 1.0,
            detail=f"a storm kept players home; play fell {1 - play:.0%} everywhere",
        )

    def _new_game_install(self, day: int) -> None:
        zone = self._ordinary_zone()
        game = "video_reels"
        target = np.array(
            [
                z == zone and g == game
                for z, g in zip(self.floor.zone, self.floor.game_type, strict=True)
            ]
        )
        if not target.any():
            target = self.floor.zone == zone
            game = self.floor.game_type[int(np.flatnonzero(target)[0])]
            target &= np.array([g == game for g in self.floor.game_type])
        added_share = self.rng.uniform(0.3, 0.5)
        units = self.fx.units[day, target]
        added = np.maximum(1, np.rint(units * added_share)).astype(np.int64)
        self.fx.units[day:, target] += added
        # A new game draws crowds that fade over weeks, partly from its neighbours.
        fade = np.exp(-np.arange(self.fx.games.shape[0] - day) / 21.0)
        novelty = 1.0 + 0.5 * fade
        self.fx.games[day:, target, :] *= novelty[:, None, None]
        neighbours = (self.floor.zone == zone) & ~target
        self.fx.games[day:, neighbours, :] *= (1.0 - 0.08 * fade)[:, None, None]
        name = self.dims["zone"][zone]
        grown = float((units + added).sum() / units.sum())
        self._record(
            day,
            "new_game_install",
            root_metric="coin_in",
            driver_metric="unit_days",
            root_segments=_segment(self.names, zone=name, game_type=game),
            magnitude=grown * 1.5 - 1.0,
            detail=f"{int(added.sum())} new {game} units installed in zone {name}",
        )

    def _high_roller(self, day: int) -> None:
        in_zone = self.floor.zone == self.floor.high_limit
        top = len(self.dims["player_tier"]) - 1
        more_games = self.rng.uniform(2.0, 3.5)
        higher_bet = self.rng.uniform(2.0, 3.0)
        self.fx.games[day, in_zone, top] *= more_games
        self.fx.bet[day, in_zone, top] *= higher_bet
        zone = self.dims["zone"][self.floor.high_limit]
        tier = self.dims["player_tier"][top]
        self._record(
            day,
            "high_roller",
            root_metric="coin_in",
            driver_metric="avg_bet",
            root_segments=_segment(self.names, zone=zone, player_tier=tier),
            magnitude=more_games * higher_bet - 1.0,
            detail=f"a {tier} player bet {higher_bet:.1f}x the usual stake in "
            f"zone {zone}",
        )


# --------------------------------------------------------------------- simulation


def _apportion_rows(totals: IntArray, weights: FloatArray) -> IntArray:
    """Largest-remainder split of every ``totals[...]`` by ``weights[..., k]``."""
    quota = totals[..., None] * weights
    whole = np.floor(quota).astype(np.int64)
    short = totals - whole.sum(axis=-1)
    order = np.argsort(-(quota - whole), axis=-1, kind="stable")
    position = np.argsort(order, axis=-1, kind="stable")
    extra = (position < short[..., None]).astype(np.int64)
    return np.asarray(whole + extra, dtype=np.int64)


def _jackpots(
    rng: np.random.Generator, coin_in_cents: IntArray, rate: FloatArray
) -> tuple[IntArray, IntArray]:
    """Hand-paid jackpots per leaf, realised and expected, in cents."""
    expected_count = coin_in_cents / 100.0 * rate
    count = rng.poisson(expected_count)
    amounts = _JACKPOT_FLOOR * (1.0 + rng.pareto(_JACKPOT_SHAPE, int(count.sum())))
    amounts = np.rint(np.minimum(amounts, _JACKPOT_CAP) * 100.0)
    leaf = np.repeat(np.arange(count.size), count.ravel())
    paid = np.bincount(leaf, weights=amounts, minlength=count.size)
    realised = paid.reshape(count.shape).astype(np.int64)
    expected = np.rint(expected_count * _JACKPOT_MEAN * 100.0).astype(np.int64)
    return realised, expected


def _play(
    rng: np.random.Generator,
    floor: _Floor,
    demand: FloatArray,
    fx: _Effects,
) -> dict[str, IntArray]:
    """Simulate every leaf of every day; all money in integer cents."""
    n_days, _, n_tiers = fx.games.shape
    available = fx.units - fx.units_down
    zone_noise = np.exp(rng.normal(0.0, 0.03, (n_days, int(floor.zone.max()) + 1)))
    volume = demand[:, None] * zone_noise[:, floor.zone] * floor.productivity
    spend = volume[:, :, None] * available[:, :, None] * floor.tier_weight[None]
    leaf_noise = np.exp(rng.normal(0.0, 0.08, fx.games.shape))
    games = np.rint(spend / floor.avg_bet[None] * fx.games * leaf_noise)
    bet = floor.avg_bet[None] * np.exp(rng.normal(0.0, 0.03, fx.games.shape)) * fx.bet
    coin_in = np.rint(games * bet * 100.0).astype(np.int64)

    tier_share = _TIER_FREE_PLAY[:n_tiers][None, None, :] * fx.free_play[:, None, :]
    free_play = np.rint(coin_in * tier_share * rng.uniform(0.8, 1.2, coin_in.shape))
    theo_win = np.rint(coin_in * floor.par[None, :, None]).astype(np.int64)
    jackpots, expected_jackpots = _jackpots(
        rng, coin_in, floor.jackpot_rate[None, :, None]
    )
    for day, cell, tier, amount in fx.jackpot_leaf:
        jackpots[day, cell, tier] += round(amount * 100)

    # Luck: sd = 6.8 * sqrt(coin_in x avg_bet) dollars; coin_out cannot go negative.
    luck_sd = _LUCK_PER_SPIN * np.sqrt(coin_in / 100.0 * bet) * 100.0
    luck = np.rint(rng.normal(0.0, 1.0, coin_in.shape) * luck_sd).astype(np.int64)
    luck = np.minimum(luck, coin_in - theo_win - expected_jackpots)
    actual_win = theo_win + luck + expected_jackpots - jackpots
    carded = np.zeros(n_tiers, dtype=bool)
    carded[1:] = True
    return {
        "coin_in": coin_in,
        "coin_in_carded": np.where(carded, coin_in, 0),
        "coin_in_uncarded": np.where(carded, 0, coin_in),
        "coin_out": coin_in - jackpots - actual_win,
        "jackpots": jackpots,
        "actual_win": actual_win,
        "theo_win": theo_win,
        "free_play": free_play.astype(np.int64),
        "games_played": games.astype(np.int64),
        "minutes_played": np.rint(games / floor.games_per_minute[None, :, None]).astype(
            np.int64
        ),
        "unit_days": _apportion_rows(available, floor.tier_weight[None]),
    }


def _player_counts(
    rng: np.random.Generator, coin_in: IntArray, fx: _Effects
) -> tuple[IntArray, IntArray]:
    """Visits and rated player-days per day and tier, from the tier's coin-in."""
    n_tiers = coin_in.shape[2]
    tier_coin_in = coin_in.sum(axis=1) / 100.0
    visits = rng.poisson(tier_coin_in / _TIER_SPEND[None, :n_tiers] * fx.visits)
    rated = rng.binomial(visits, fx.rated)
    rated[:, 0] = 0  # an uncarded visitor is never rated
    return visits.astype(np.int64), rated.astype(np.int64)


# ------------------------------------------------------------------------ tables


def _daily_table(
    days: pd.DatetimeIndex,
    leaves: Mapping[str, IntArray],
    visits: IntArray,
    rated: IntArray,
    distractors: Mapping[str, FloatArray],
) -> pd.DataFrame:
    sums = {name: values.sum(axis=(1, 2)) for name, values in leaves.items()}
    daily = pd.DataFrame({"day": days})
    for name in ADDITIVE_MEASURES:
        daily[name] = sums[name] / 100.0 if name in MONEY_MEASURES else sums[name]
    daily["visits"] = visits.sum(axis=1)
    daily["rated_player_days"] = rated.sum(axis=1)
    coin_in = sums["coin_in"].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        daily["avg_bet"] = coin_in / 100.0 / sums["games_played"]
        daily["hold_pct"] = sums["actual_win"] / coin_in
        daily["theo_hold"] = sums["theo_win"] / coin_in
        daily["wpupd"] = sums["actual_win"] / 100.0 / sums["unit_days"]
        daily["occupancy"] = sums["minutes_played"] / (sums["unit_days"] * 1440.0)
        daily["carded_share"] = sums["coin_in_carded"] / coin_in
    for name, values in distractors.items():
        daily[name] = values
    return daily


def _segment_table(
    days: pd.DatetimeIndex,
    floor: _Floor,
    dims: Mapping[str, tuple[str, ...]],
    leaves: Mapping[str, IntArray],
) -> pd.DataFrame:
    n_days, n_cells, n_tiers = leaves["coin_in"].shape
    per_day = n_cells * n_tiers
    zones = np.asarray(dims["zone"], dtype=object)[floor.zone]
    columns: dict[str, Any] = {
        "day": np.repeat(days.to_numpy(), per_day),
        "zone": np.tile(np.repeat(zones, n_tiers), n_days),
        "denomination": np.tile(np.repeat(floor.denomination, n_tiers), n_days),
        "game_type": np.tile(np.repeat(floor.game_type, n_tiers), n_days),
        "player_tier": np.tile(
            np.asarray(dims["player_tier"], dtype=object), n_days * n_cells
        ),
    }
    for name in ADDITIVE_MEASURES:
        flat = leaves[name].ravel()
        columns[name] = flat / 100.0 if name in MONEY_MEASURES else flat
    return pd.DataFrame(columns)


def _tier_table(
    days: pd.DatetimeIndex, tiers: Sequence[str], visits: IntArray, rated: IntArray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": np.repeat(days.to_numpy(), len(tiers)),
            "player_tier": np.tile(np.asarray(tiers, dtype=object), len(days)),
            "visits": visits.ravel(),
            "rated_player_days": rated.ravel(),
        }
    )


@dataclass(frozen=True)
class _CasinoTables:
    daily: pd.DataFrame
    segments: pd.DataFrame | None
    tiers: pd.DataFrame
    causes: pd.DataFrame


def _simulate_casino(
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    dims: Mapping[str, tuple[str, ...]],
    kinds: Sequence[str],
    *,
    include_segments: bool,
) -> _CasinoTables:
    floor = _build_floor(rng, dims)
    demand = _demand(rng, days)
    distractors = _distractors(rng, days)
    fx = _new_effects(floor, len(days), len(dims["player_tier"]))
    if kinds:
        planter = _Planter(rng, floor, dims, fx)
        order = list(rng.permutation(list(kinds)))
        for i, day in enumerate(_cause_days(rng, len(days))):
            planter.plant(str(order[i % len(order)]), day)

    leaves = _play(rng, floor, demand, fx)
    visits, rated = _player_counts(rng, leaves["coin_in"], fx)
    causes = pd.DataFrame(fx.rows, columns=["day_index", *_CAUSE_COLUMNS[2:]])
    causes.insert(0, "day", days[causes.pop("day_index").to_numpy(dtype=np.int64)])
    return _CasinoTables(
        daily=_daily_table(days, leaves, visits, rated, distractors),
        segments=_segment_table(days, floor, dims, leaves)
        if include_segments
        else None,
        tiers=_tier_table(days, dims["player_tier"], visits, rated),
        causes=causes,
    )


_CAUSE_COLUMNS = (
    "casino_id",
    "day",
    "kind",
    "root_metric",
    "driver_metric",
    "root_segments",
    "magnitude",
    "detail",
)


# ------------------------------------------------------------------ validation


def _check_dimensions(
    dimensions: Mapping[str, Sequence[str]],
) -> dict[str, tuple[str, ...]]:
    if not isinstance(dimensions, Mapping) or set(dimensions) != set(
        DEFAULT_DIMENSIONS
    ):
        got = list(dimensions) if isinstance(dimensions, Mapping) else dimensions
        raise ParameterError(
            f"dimensions must map exactly {list(DEFAULT_DIMENSIONS)} to their members, "
            f"got {got!r}"
        )
    dims = {
        name: tuple(str(m) for m in dimensions[name]) for name in DEFAULT_DIMENSIONS
    }
    catalogs = {"denomination": _DENOMINATIONS, "game_type": _GAME_TYPES}
    for name, members in dims.items():
        if len(set(members)) != len(members) or len(members) < 2:
            raise ParameterError(
                f"dimensions[{name!r}] needs at least 2 distinct members, "
                f"got {members!r}"
            )
        unknown = [m for m in members if name in catalogs and m not in catalogs[name]]
        if unknown:
            raise ParameterError(
                f"dimensions[{name!r}] has unknown member(s) {unknown!r}; "
                f"allowed: {sorted(catalogs[name])}"
            )
    if len(dims["player_tier"]) > len(_TIER_SHARE):
        raise ParameterError(
            f"dimensions['player_tier'] allows at most {len(_TIER_SHARE)} tiers, "
            f"got {len(dims['player_tier'])}"
        )
    return dims


def _check_kinds(causes: bool | Sequence[str]) -> tuple[str, ...]:
    if isinstance(causes, bool):
        return CAUSE_KINDS if causes else ()
    if isinstance(causes, str):
        causes = [causes]
    unknown = [k for k in causes if k not in CAUSE_KINDS]
    if unknown:
        raise ParameterError(
            f"causes has unknown kind(s) {unknown!r}; allowed: True, False or a "
            f"list drawn from {list(CAUSE_KINDS)}"
        )
    return tuple(dict.fromkeys(causes))


def _check_days(start: object, end: object) -> pd.DatetimeIndex:
    first = parse_date(start, name="start")
    last = parse_date(end, name="end")
    if last < first:
        raise ParameterError(
            f"end={last.date().isoformat()!r} is before "
            f"start={first.date().isoformat()!r}"
        )
    return pd.date_range(first, last, freq="D")


def _check_count(n_casinos: int) -> int:
    if isinstance(n_casinos, bool) or not isinstance(n_casinos, int | np.integer):
        raise ParameterError(f"n_casinos must be a whole number, got {n_casinos!r}")
    if n_casinos < 1:
        raise ParameterError(f"n_casinos must be at least 1, got {n_casinos!r}")
    return int(n_casinos)


# ------------------------------------------------------------------------ public


def generate_casinos(
    *,
    n_casinos: int = 3,
    start: object = "2024-01-01",
    end: object = "2025-06-30",
    seed: int = 0,
    dimensions: Mapping[str, Sequence[str]] = DEFAULT_DIMENSIONS,
    causes: bool | Sequence[str] = True,
    include_segments: bool = True,
) -> SyntheticCasinoData:
    """Generate daily slot data for several casinos, with planted causes.

    Parameters
    ----------
    n_casinos : int
        Number of casinos, identified ``C01``, ``C02``, ... Casino *k* depends only
        on ``seed`` and *k*: asking for more casinos does not change the first ones.
    start, end : str, date or Timestamp
        First and last gaming day, inclusive.
    seed : int
        Seed of the random generator; the same seed gives the same data.
    dimensions : mapping of str to sequence of str
        Members of ``zone``, ``denomination``, ``game_type`` and ``player_tier``.
        Denominations and game types come from a fixed catalogue (their hold, bet
        and speed are known); the first tier is the uncarded one, the rest rise in
        value; the zone ``high_limit`` (else the last zone) holds the 1.00, 5.00 and
        25.00 games.
    causes : bool or sequence of str
        True plants every kind of :data:`CAUSE_KINDS` in turn, False none, a list
        only those kinds. Causes start after 14 weeks of history and sit 14 to 35
        days apart, so no cause day is the base day of another.
    include_segments : bool
        False skips the segment table (``daily`` is unchanged): for long benchmarks.

    Returns
    -------
    SyntheticCasinoData
        ``daily``, ``segments``, ``tiers`` and ``causes``; see the class.

    Raises
    ------
    ParameterError
        A count, date range, dimension member or cause kind that is not allowed.

    Examples
    --------
    >>> data = generate_casinos(n_casinos=1, start="2024-01-01", end="2024-03-31")
    >>> data.daily[["casino_id", "day", "coin_in"]].shape
    (91, 3)
    >>> bool((data.daily["coin_in"] > 1e6).all())
    True
    """
    count = _check_count(n_casinos)
    days = _check_days(start, end)
    dims = _check_dimensions(dimensions)
    kinds = _check_kinds(causes)
    width = max(2, len(str(count)))
    children = np.random.SeedSequence(seed).spawn(count)

    parts: list[tuple[str, _CasinoTables]] = []
    for k, child in enumerate(children, start=1):
        tables = _simulate_casino(
            np.random.default_rng(child),
            days,
            dims,
            kinds,
            include_segments=include_segments,
        )
        parts.append((f"C{k:0{width}d}", tables))

    def stack(pick: str) -> pd.DataFrame:
        frames: list[pd.DataFrame] = [
            getattr(t, pick).assign(casino_id=cid) for cid, t in parts
        ]
        frame = pd.concat(frames, ignore_index=True)
        ordered = ["casino_id", *[c for c in frame.columns if c != "casino_id"]]
        return frame.loc[:, ordered]

    return SyntheticCasinoData(
        daily=stack("daily"),
        segments=stack("segments") if include_segments else None,
        tiers=stack("tiers"),
        causes=stack("causes")[list(_CAUSE_COLUMNS)],
        dimensions=tuple(dims),
        parameters={
            "n_casinos": count,
            "start": days[0].date().isoformat(),
            "end": days[-1].date().isoformat(),
            "seed": seed,
            "dimensions": {k: list(v) for k, v in dims.items()},
            "causes": list(kinds),
            "include_segments": include_segments,
        },
    )
