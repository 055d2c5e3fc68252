#!/bin/sh
# Temporal's schemas on PostgreSQL (a one-shot job of docker-compose.yml, temporalio/admin-tools):
# the databases exist already (deploy/postgres/init-roles.sh), owned by the role used here.
# setup-schema -v 0.0 makes the version table (a no-op when it exists), update-schema applies
# every versioned step the server image of the same release needs; both are safe to repeat,
# so the same job upgrades the schema when TEMPORAL_VERSION goes up.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}"
SQL_PASSWORD="$(cat /run/secrets/temporal-db-password)"
export SQL_PASSWORD
schema=/etc/temporal/schema/postgresql/v12
tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
        -u "$POSTGRES_USER" "$@"
}
tool --db temporal setup-schema -v 0.0
tool --db temporal update-schema -d "$schema/temporal/versioned"
tool --db temporal_visibility setup-schema -v 0.0
tool --db temporal_visibility update-schema -d "$schema/visibility/versioned"
echo "temporal schemas current"
