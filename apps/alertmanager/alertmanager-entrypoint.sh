#!/bin/bash
# Entry point of labs/alertmanager: serve (default) | check | healthcheck | any command.
#   AM_CONFIG_FILE   configuration (default /etc/alertmanager/alertmanager.yml, mounted by the deployment)
#   AM_LISTEN        --web.listen-address (default 0.0.0.0:9093)
#   AM_EXTERNAL_URL  --web.external-url, the address people open (links in notifications); empty = none
#   AM_RETENTION     --data.retention (default 120h)
# Clustering is off (one instance per deployment: no gossip port to open).
set -euo pipefail

AM_CONFIG_FILE="${AM_CONFIG_FILE:-/etc/alertmanager/alertmanager.yml}"
AM_LISTEN="${AM_LISTEN:-0.0.0.0:9093}"
AM_EXTERNAL_URL="${AM_EXTERNAL_URL:-}"
AM_RETENTION="${AM_RETENTION:-120h}"
AM_BIN=/usr/bin/prometheus-alertmanager
AMTOOL_BIN=/usr/bin/amtool

healthcheck() {
    local status
    exec 3<>"/dev/tcp/127.0.0.1/${AM_LISTEN##*:}" || exit 1
    printf 'GET /-/healthy HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 status <&3 || exit 1
    exec 3<&-
    [[ "$status" == HTTP/1.?" 200"* ]]
}

case "${1:-serve}" in
    serve)
        shift || true
        [ -r "$AM_CONFIG_FILE" ] || { echo "alertmanager-entrypoint: $AM_CONFIG_FILE is not readable (mount the configuration)" >&2; exit 1; }
        external=()
        [ -z "$AM_EXTERNAL_URL" ] || external=("--web.external-url=$AM_EXTERNAL_URL")
        exec "$AM_BIN" "--config.file=$AM_CONFIG_FILE" --storage.path=/alertmanager \
            "--data.retention=$AM_RETENTION" "--web.listen-address=$AM_LISTEN" \
            --cluster.listen-address= "${external[@]}" "$@"
        ;;
    check)
        exec "$AMTOOL_BIN" check-config "$AM_CONFIG_FILE"
        ;;
    healthcheck)
        healthcheck
        ;;
    *)
        exec "$@"
        ;;
esac
