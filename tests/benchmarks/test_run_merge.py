"""A run with --only keeps the rows of the scenarios it did not run."""

from __future__ import annotations

from pathlib import Path

from benchmarks import run

OLD = """# Speed benchmarks: measured figures

| scenario | measure | value | unit | baseline | ratio | target | met | note |
|---|---|---|---|---|---|---|---|---|
| 1 one explanation | old one | 30 | ms |  |  | t | NO | n |
| 3 backfill into Postgres | old three | 40 | s |  |  | t | NO | n |

| scenario | peak resident memory (MiB) | wall time (s) |
|---|---|---|
| explain_one | 190 | 29 |
| backfill_postgres | 270 | 119 |

## Reading the figures

kept text
"""


def _new_lines() -> list[str]:
    figure = {
        "scenario": "1 one explanation",
        "measure": "new one",
        "value": 1.5,
        "unit": "ms",
        "baseline": None,
        "ratio": None,
        "target": "t",
        "met": True,
        "note": "n",
    }
    payload = {"figures": [figure], "peak_rss_mb": 100.0, "seconds": 3.0}
    return run.table({"explain_one": payload})


def test_merged_replaces_the_rerun_rows_and_keeps_the_others(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    output.write_text(OLD)
    lines = run.merged(_new_lines(), output)
    text = "\n".join(lines)
    assert "new one" in text
    assert "old one" not in text
    assert "| 3 backfill into Postgres | old three |" in text
    assert "| backfill_postgres | 270 | 119 |" in text
    assert "| explain_one | 100 | 3 |" in text
    assert "| explain_one | 190 |" not in text
    assert text.index("new one") < text.index("old three")


def test_merged_without_a_previous_file_is_the_new_table(tmp_path: Path) -> None:
    lines = _new_lines()
    assert run.merged(lines, tmp_path / "absent.md") == lines
