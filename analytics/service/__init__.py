"""The casino-explain HTTP service.

A FastAPI application with one endpoint per analytics module
(``/singlerankmetrics``, ``/assesschange``, ``/ranksegments``), compatible with
the clients of the old service. Run it standalone with
``python -m analytics.service`` (or ``casino-explain serve``), or inside Airflow's
API server through the plugin ``plugins/casino_explain_http.py``.
"""

from __future__ import annotations

from analytics.service._app import create_app
from analytics.service._errors import ServiceError
from analytics.service._serve import serve
from analytics.service._settings import ServiceSettings

__all__ = ["ServiceError", "ServiceSettings", "create_app", "serve"]
