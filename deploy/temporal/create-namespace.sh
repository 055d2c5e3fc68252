#!/bin/sh
# The service's namespace with an explicit retention, and its search attributes (a one-shot
# job of docker-compose.yml, temporalio/admin-tools, after the server is healthy). Safe to
# repeat: an existing namespace gets the retention set again, existing attributes are kept.
#
#   NAMESPACE           the namespace (the service's TEMPORAL_NAMESPACE)
#   RETENTION           how long a closed workflow's history is kept, e.g. 30d
#   SEARCH_ATTRIBUTES   "Name=Type ..." (workflows/search_attributes.py; tests check the list)
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${RETENTION:?}" "${SEARCH_ATTRIBUTES:?}"
cli() { temporal --address "$TEMPORAL_ADDRESS" "$@"; }

if cli operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    cli operator namespace update --namespace "$NAMESPACE" --retention "$RETENTION"
else
    cli operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
        --description "Ausreise-Fallsteuerung Kreis Unna"
fi

# A new namespace takes a moment to be known to every frontend: retry, not fail.
for attribute in $SEARCH_ATTRIBUTES; do
    name="${attribute%%=*}"
    type="${attribute#*=}"
    tries=0
    until cli operator search-attribute list --namespace "$NAMESPACE" | grep -qw "$name" \
        || cli operator search-attribute create --namespace "$NAMESPACE" \
            --name "$name" --type "$type"; do
        tries=$((tries + 1))
        [ "$tries" -lt 30 ] || { echo "search attribute $name: giving up" >&2; exit 1; }
        sleep 2
    done
done
cli operator namespace describe --namespace "$NAMESPACE"
cli operator search-attribute list --namespace "$NAMESPACE"
