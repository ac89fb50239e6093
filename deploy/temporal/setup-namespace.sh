#!/bin/sh
# Register the namespace and orderflow's search attributes once the server answers (run by the
# `temporal-setup` service of docker-compose.yml with the temporalio/admin-tools image).
#
# Idempotent: what exists is left alone, so it runs on every `docker compose up`. Each attribute
# is created with its own `--name`/`--type` pair: the CLI pairs repeated flags by position, and a
# missing `--type` would silently skip an attribute.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS, e.g. temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-72h}"
ATTEMPTS="${SETUP_ATTEMPTS:-60}"
PAUSE="${SETUP_PAUSE_SECONDS:-2}"
# The search attributes OrderWorkflow upserts (orderflow/models.py: SEARCH_ATTRIBUTE_KEYS).
ATTRIBUTES="OrderState=Keyword OrderCustomerId=Keyword OrderTotal=Double"

# retry COMMAND...: run until it succeeds, at most $ATTEMPTS times, $PAUSE seconds apart.
retry() {
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            echo "giving up after $ATTEMPTS attempts: $*" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep "$PAUSE"
    done
}

ensure_namespace() {
    temporal operator namespace describe -n "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1 ||
        temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" --address "$ADDRESS"
}

ensure_attribute() {  # NAME TYPE
    temporal operator search-attribute list -n "$NAMESPACE" --address "$ADDRESS" 2>/dev/null |
        grep -qw "$1" ||
        temporal operator search-attribute create -n "$NAMESPACE" --address "$ADDRESS" \
            --name "$1" --type "$2"
}

echo "waiting for Temporal at $ADDRESS"
retry temporal operator cluster health --address "$ADDRESS"
retry ensure_namespace
for pair in $ATTRIBUTES; do
    retry ensure_attribute "${pair%%=*}" "${pair#*=}"
done
echo "namespace $NAMESPACE is ready with $ATTRIBUTES"
