"""Seeded generators of realistic casino data with planted causes (ground truth).

* :func:`generate_casinos` -- daily and segment tables of whole casinos, consistent to
  the cent, with planted causes (promotions, machines down, jackpots, weather, ...);
  the demo data set and the pipeline tests use it.
* :func:`make_rank_case`, :func:`make_change_case` -- one evaluation case for
  ``rank_metrics`` (a planted root metric, optionally a distractor) or for
  ``assess_change`` (a cause of a chosen number of natural standard deviations).
* :func:`generate_cube_case` -- a root-cause-localization case in the shape of the
  public benchmarks (a cube of leaves, expected and observed values, a label).

The same seed always gives the same data. Nothing here reads or writes files.
"""

from __future__ import annotations

from analytics.synthetic.casino import SyntheticCasinoData, generate_casinos
from analytics.synthetic.cube import CubeCase, generate_cube_case
from analytics.synthetic.metric_cases import (
    MetricCase,
    make_change_case,
    make_rank_case,
)

__all__ = [
    "CubeCase",
    "MetricCase",
    "SyntheticCasinoData",
    "generate_casinos",
    "generate_cube_case",
    "make_change_case",
    "make_rank_case",
]
