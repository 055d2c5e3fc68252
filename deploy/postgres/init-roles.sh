#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d, as the superuser): the roles and
# databases of docker-compose.yml, with the passwords from the mounted secrets. Runs once, on
# an empty data folder; later changes are made by hand (docs/deployment.md).
#
#   temporal      owns temporal and temporal_visibility (the schema jobs and the server)
#   <owner>       owns the database "cases" and its schema: runs the migrations (--role migrate)
#   <app>         member of case_app, owns nothing: the API and the worker (033_application_role)
#
# <owner> and <app> and their passwords are read from the DATABASE_URL files the service
# gets, so the two can never disagree; passwords made with `openssl rand -hex 24` need no
# escaping in a URL.
set -eu
secrets="${SECRETS:-/run/secrets}"  # another folder only for tests/test_deployment.py

user_of() { sed -E 's|^[a-z0-9]+://([^:@/]+).*$|\1|' "$1"; }
password_of() { sed -E 's|^[a-z0-9]+://[^:@/]+:([^@]*)@.*$|\1|' "$1"; }

owner="$(user_of "$secrets/database-url-owner")"
app="$(user_of "$secrets/database-url-app")"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v temporal_pw="$(cat "$secrets/temporal-db-password")" \
    -v owner="$owner" -v owner_pw="$(password_of "$secrets/database-url-owner")" \
    -v app="$app" -v app_pw="$(password_of "$secrets/database-url-app")" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_pw';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

-- The owner may not create roles: case_app is made here, the migration only grants to it.
CREATE ROLE case_app NOLOGIN;
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_pw';
CREATE ROLE :"app" LOGIN PASSWORD :'app_pw' IN ROLE case_app;
CREATE DATABASE cases OWNER :"owner";
-- Nobody but the owner connects or creates anything there; the app role connects.
REVOKE ALL ON DATABASE cases FROM PUBLIC;
GRANT CONNECT ON DATABASE cases TO :"app";
SQL

# PostgreSQL 15 and later: the public schema belongs to the database owner (pg_database_owner)
# and PUBLIC may not create in it, so the app role can create no table of its own.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname cases \
    -c "REVOKE ALL ON SCHEMA public FROM PUBLIC" \
    -c "GRANT USAGE ON SCHEMA public TO case_app"
