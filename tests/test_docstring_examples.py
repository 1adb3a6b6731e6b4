"""The Examples sections of the library's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import analytics

# The migration environment runs only inside Alembic; it has no examples.
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(analytics.__path__, "analytics.")
    if ".migrations" not in info.name
)


def test_every_module_is_listed() -> None:
    assert "analytics._metrics" in MODULES
    assert "analytics.pipeline.compute" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) of {name} failed"


def test_the_examples_are_found() -> None:
    finder = doctest.DocTestFinder()
    examples = sum(
        len(test.examples)
        for name in MODULES
        for test in finder.find(importlib.import_module(name))
    )
    assert examples >= 30
