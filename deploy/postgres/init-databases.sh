#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
#
# The server's own database (POSTGRES_DB) holds Airflow's metadata. This script adds:
#   * REPORTING_DB_NAME, owned by REPORTING_WRITER_USER: the pipeline writes the
#     reporting schema `explain` there (its Alembic migrations run as that user);
#   * SOURCE_DB_NAME, owned by the same user: the demo's casino source tables (in
#     production the source is the casino's own warehouse; point
#     CASINO_SOURCE_URL at it instead);
#   * the NOLOGIN role casino_explain_bi (migration 0002 grants it SELECT on the BI
#     views; created here so the writer needs no CREATEROLE) and the login
#     BI_READER_USER, which is granted that role and nothing else.
# Passwords arrive as environment variables from .env; none is written in a file.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=writer="$REPORTING_WRITER_USER" \
    --set=writer_password="$REPORTING_WRITER_PASSWORD" \
    --set=bi_user="$BI_READER_USER" \
    --set=bi_password="$BI_READER_PASSWORD" \
    --set=reporting_db="$REPORTING_DB_NAME" \
    --set=source_db="$SOURCE_DB_NAME" <<'SQL'
CREATE ROLE :"writer" LOGIN PASSWORD :'writer_password';
CREATE DATABASE :"reporting_db" OWNER :"writer";
CREATE DATABASE :"source_db" OWNER :"writer";
CREATE ROLE casino_explain_bi NOLOGIN;
CREATE ROLE :"bi_user" LOGIN PASSWORD :'bi_password' IN ROLE casino_explain_bi;
REVOKE ALL ON DATABASE :"reporting_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"source_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"reporting_db" TO casino_explain_bi;
SQL
