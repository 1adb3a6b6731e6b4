"""Speed benchmarks of casino-explain: ``python -m benchmarks`` (or ``make bench``)."""
