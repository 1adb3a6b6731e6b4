"""``python -m analytics.service [--host HOST] [--port PORT]``."""

from __future__ import annotations

import argparse
import logging

from analytics.service._serve import serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m analytics.service",
        description="Serve the casino-explain HTTP API "
        "(configured by CASINO_EXPLAIN_* environment variables).",
    )
    parser.add_argument("--host", default=None, help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default 5000")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    serve(args.host, args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
