"""Airflow plugin: the casino-explain HTTP service inside Airflow's API server.

Airflow 3 mounts each app of a plugin's ``fastapi_apps`` under its ``url_prefix``,
so with this file in the plugins folder the endpoints answer at, e.g.,
``http://<airflow-api-server>/casino-explain/singlerankmetrics``. The app is the
same one ``python -m analytics.service`` serves, configured by the same
``CASINO_EXPLAIN_*`` environment variables of the API server's process.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from analytics.service import create_app

URL_PREFIX = "/casino-explain"


class CasinoExplainHttpPlugin(AirflowPlugin):
    """Mounts the casino-explain API under :data:`URL_PREFIX`."""

    name = "casino_explain_http"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads this class attribute)
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "casino-explain"}
    ]
