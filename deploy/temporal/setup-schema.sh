#!/bin/sh
# Create or upgrade Temporal's two PostgreSQL databases (run by the `temporal-schema` service of
# docker-compose.yml with the temporalio/admin-tools image, before the server starts).
#
# Safe on every `docker compose up`: `create` leaves an existing database alone,
# `setup-schema -v 0.0` keeps a schema that is already newer, and `update-schema` applies only
# the versions a database does not have yet (a newer server image brings newer ones).
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the PostgreSQL host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD (read by temporal-sql-tool)}"
PORT="${DB_PORT:-5432}"
SCHEMA=/etc/temporal/schema/postgresql/v12

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

for database in temporal temporal_visibility; do
    case "$database" in
        temporal) versions="$SCHEMA/temporal/versioned" ;;
        *) versions="$SCHEMA/visibility/versioned" ;;
    esac
    echo "schema of $database"
    sql_tool --db "$database" create
    sql_tool --db "$database" setup-schema -v 0.0
    sql_tool --db "$database" update-schema -d "$versions"
done
echo "Temporal's PostgreSQL schema is ready"
