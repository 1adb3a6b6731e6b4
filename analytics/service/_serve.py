"""Running the service standalone with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from analytics.service._app import create_app
from analytics.service._settings import ServiceSettings

__all__ = ["serve"]

logger = logging.getLogger("analytics.service")


def serve(
    host: str | None = None,
    port: int | None = None,
    *,
    settings: ServiceSettings | None = None,
    log_level: str = "info",
) -> None:
    """Serve the HTTP API with uvicorn until interrupted.

    Parameters
    ----------
    host : str, optional
        Interface to listen on; default ``CASINO_EXPLAIN_HOST`` or 127.0.0.1.
        Use ``0.0.0.0`` to accept connections from other machines.
    port : int, optional
        TCP port; default ``CASINO_EXPLAIN_PORT`` or 5000, the old service's.
    settings : ServiceSettings, optional
        Configuration; read from the environment when left out.
    log_level : str
        uvicorn's log level.

    Examples
    --------
    >>> serve("127.0.0.1", 5000)  # doctest: +SKIP
    """
    settings = settings if settings is not None else ServiceSettings()
    host = host if host is not None else settings.host
    port = port if port is not None else settings.port
    logger.info("serving casino-explain on http://%s:%s", host, port)
    logger.info("data root %s", settings.data_root)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
