# The casino-explain Airflow image: the official Airflow image plus this project.
#
#   docker compose build            (docker-compose.yaml builds it as casino-explain-airflow)
#   docker build -t casino-explain-airflow .
#
# The base image's Airflow version must equal the apache-airflow pin of the
# `pipeline` extra in pyproject.toml; tests/deploy checks that they agree.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION

# The official image installs packages as the unprivileged `airflow` user.
USER airflow
WORKDIR /opt/casino-explain

# Dependencies first, so a code change does not re-resolve them: pinning
# apache-airflow to the base image's version keeps pip from replacing it. Both
# extras: `pipeline` for the DAGs and operators, `service` for the HTTP service
# that plugins/casino_explain_http.py mounts in the api-server (FastAPI app,
# matplotlib charts, pydantic-settings); tests/deploy derives the extras the
# plugins folder needs from its imports.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 analytics ./analytics
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" ".[pipeline,service]"

# The DAG files, the plugin and the pipeline configuration, where the
# AIRFLOW__CORE__* settings and CASINO_EXPLAIN_CONFIG below expect them.
# docker-compose.yaml mounts the same folders over these for development.
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 config /opt/airflow/config
# Cluster policies (pools, priorities, queue); /opt/airflow/config is on sys.path.
COPY --chown=airflow:0 deploy/airflow/airflow_local_settings.py /opt/airflow/config/

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    CASINO_EXPLAIN_CONFIG=/opt/airflow/config/pipeline.yaml

# The UI's password file lives on a named volume; Docker seeds a new volume with
# this directory's owner and mode, so every Airflow container (uid AIRFLOW_UID,
# group 0) can write it without a root init step.
RUN mkdir -p /opt/airflow/auth && chmod 0775 /opt/airflow/auth

WORKDIR /opt/airflow
