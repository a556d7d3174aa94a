#!/bin/bash
# Entrypoint of the Prometheus image.
#
#   prometheus-entrypoint.sh [serve] [extra prometheus flags...]
#       render the configuration and alert rules from the templates, then
#       exec prometheus (PID 1).  Flags alone (starting with -) imply serve.
#   prometheus-entrypoint.sh render   render only (prints the config path)
#   prometheus-entrypoint.sh check    render, then promtool check config
#   prometheus-entrypoint.sh healthcheck   GET /-/healthy (no curl needed)
#   prometheus-entrypoint.sh <other command...>   exec'd as is
#
# Templates use @NAME@ placeholders, replaced by validated environment
# values only (see README.md for the variables).  PROM_CONFIG_FILE=<path>
# skips rendering and uses a mounted configuration as is.
set -Eeuo pipefail

PROM_TEMPLATE_DIR="${PROM_TEMPLATE_DIR:-/etc/prometheus/templates}"
PROM_RENDER_DIR="${PROM_RENDER_DIR:-/run/prometheus}"
PROM_TARGETS_DIR="${PROM_TARGETS_DIR:-/etc/prometheus/targets}"
PROM_RULES_EXTRA_DIR="${PROM_RULES_EXTRA_DIR:-/etc/prometheus/rules.d}"
PROM_STORAGE_PATH="${PROM_STORAGE_PATH:-/prometheus}"
PROM_LISTEN="${PROM_LISTEN:-0.0.0.0:9090}"
PROM_SCRAPE_INTERVAL="${PROM_SCRAPE_INTERVAL:-15s}"
PROM_SCRAPE_TIMEOUT="${PROM_SCRAPE_TIMEOUT:-10s}"
PROM_EVALUATION_INTERVAL="${PROM_EVALUATION_INTERVAL:-15s}"
PROM_TARGET_DOWN_FOR="${PROM_TARGET_DOWN_FOR:-2m}"
PROM_ETL_STALE_HOURS="${PROM_ETL_STALE_HOURS:-26}"
PROM_SERVICE_DOWN_FOR="${PROM_SERVICE_DOWN_FOR:-30s}"
PROM_MEMORY_NEAR_LIMIT="${PROM_MEMORY_NEAR_LIMIT:-0.9}"
PROM_ETL_BAD_RATIO="${PROM_ETL_BAD_RATIO:-0.1}"
PROM_RETENTION_TIME="${PROM_RETENTION_TIME:-15d}"
PROM_RETENTION_SIZE="${PROM_RETENTION_SIZE:-1GB}"
PROM_ALERTMANAGERS="${PROM_ALERTMANAGERS:-}"
PROM_CONFIG_FILE="${PROM_CONFIG_FILE:-}"
# CORS: a regex of the origins whose pages may read the API (anchored by
# Prometheus).  Empty: no other origin (Prometheus's own default is ".*",
# any web page a browser visits could read every series).
PROM_CORS_ORIGIN="${PROM_CORS_ORIGIN:-}"
# Optional --web.config.file (TLS and/or basic auth for every endpoint: the
# only way this version has to keep /debug/pprof from whoever reaches it).
PROM_WEB_CONFIG_FILE="${PROM_WEB_CONFIG_FILE:-}"
# Flags that let any client change or stop Prometheus; refused unless this is true.
PROM_ALLOW_UNSAFE_FLAGS="${PROM_ALLOW_UNSAFE_FLAGS:-false}"
PROMETHEUS_BIN="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
PROMTOOL_BIN="${PROMTOOL_BIN:-/usr/bin/promtool}"

log() { printf '%s prometheus-entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

DURATION_RE='^[0-9]+(ms|s|m|h|d|w|y)$'
PATH_RE='^/[A-Za-z0-9._/-]*$'

check() {  # check NAME REGEX DESCRIPTION
    [[ "${!1}" =~ $2 ]] || die "$1=${!1} is not $3"
}

listen_port() { printf '%s' "${PROM_LISTEN##*:}"; }

validate() {
    local v
    for v in PROM_SCRAPE_INTERVAL PROM_SCRAPE_TIMEOUT PROM_EVALUATION_INTERVAL \
        PROM_TARGET_DOWN_FOR PROM_SERVICE_DOWN_FOR PROM_RETENTION_TIME; do
        check "$v" "$DURATION_RE" "a duration like 15s, 2m, 1h, 15d"
    done
    for v in PROM_TEMPLATE_DIR PROM_RENDER_DIR PROM_TARGETS_DIR PROM_RULES_EXTRA_DIR \
        PROM_STORAGE_PATH; do
        check "$v" "$PATH_RE" "an absolute path"
    done
    check PROM_ETL_STALE_HOURS '^[1-9][0-9]{0,3}$' "a whole number of hours (1-9999)"
    check PROM_ETL_BAD_RATIO '^(0(\.[0-9]+)?|1(\.0+)?)$' "a ratio between 0 and 1"
    check PROM_MEMORY_NEAR_LIMIT '^(0(\.[0-9]+)?|1(\.0+)?)$' "a ratio between 0 and 1"
    check PROM_RETENTION_SIZE '^(0|[0-9]+(B|KB|MB|GB|TB|PB|EB))$' "a size like 512MB, 1GB (0: none)"
    check PROM_LISTEN '^([0-9.]*|\[[0-9A-Fa-f:]*\]):[0-9]{1,5}$' "host:port (e.g. 0.0.0.0:9090)"
    check PROM_CORS_ORIGIN '^[][A-Za-z0-9.:/|()?*+^$\\_-]*$' "a regex of origins (no spaces or quotes)"
    check PROM_ALLOW_UNSAFE_FLAGS '^(true|false)$' "true or false"
    if [ -n "$PROM_WEB_CONFIG_FILE" ] && [ ! -r "$PROM_WEB_CONFIG_FILE" ]; then
        die "PROM_WEB_CONFIG_FILE=$PROM_WEB_CONFIG_FILE is not readable"
    fi
    check PROM_ALERTMANAGERS '^([A-Za-z0-9._-]+:[0-9]{1,5}(,[A-Za-z0-9._-]+:[0-9]{1,5})*)?$' \
        "a comma-separated list of host:port"
}

# render_file TEMPLATE OUTPUT: replace the known @NAME@ placeholders.
render_file() {
    local tmp="$2.tmp.$$"
    sed -e "s|@PROM_SCRAPE_INTERVAL@|${PROM_SCRAPE_INTERVAL}|g" \
        -e "s|@PROM_SCRAPE_TIMEOUT@|${PROM_SCRAPE_TIMEOUT}|g" \
        -e "s|@PROM_EVALUATION_INTERVAL@|${PROM_EVALUATION_INTERVAL}|g" \
        -e "s|@PROM_TARGET_DOWN_FOR@|${PROM_TARGET_DOWN_FOR}|g" \
        -e "s|@PROM_ETL_STALE_HOURS@|${PROM_ETL_STALE_HOURS}|g" \
        -e "s|@PROM_ETL_BAD_RATIO@|${PROM_ETL_BAD_RATIO}|g" \
        -e "s|@PROM_SERVICE_DOWN_FOR@|${PROM_SERVICE_DOWN_FOR}|g" \
        -e "s|@PROM_MEMORY_NEAR_LIMIT@|${PROM_MEMORY_NEAR_LIMIT}|g" \
        -e "s|@PROM_RENDER_DIR@|${PROM_RENDER_DIR}|g" \
        -e "s|@PROM_TARGETS_DIR@|${PROM_TARGETS_DIR}|g" \
        -e "s|@PROM_RULES_EXTRA_DIR@|${PROM_RULES_EXTRA_DIR}|g" \
        -e "s|@PROM_SELF_TARGET@|127.0.0.1:$(listen_port)|g" \
        "$1" >"$tmp"
    if grep -q '@PROM_[A-Z_]*@' "$tmp"; then
        rm -f -- "$tmp"
        die "$1 uses an unknown placeholder: $(grep -o '@PROM_[A-Z_]*@' "$1" | sort -u | tr '\n' ' ')"
    fi
    mv -f -- "$tmp" "$2"
}

render() {
    validate
    mkdir -p -- "$PROM_RENDER_DIR/rules"
    render_file "$PROM_TEMPLATE_DIR/prometheus.yml.tmpl" "$PROM_RENDER_DIR/prometheus.yml"
    if [ -n "$PROM_ALERTMANAGERS" ]; then
        {
            printf '\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets:\n'
            local am
            IFS=',' read -r -a ams <<<"$PROM_ALERTMANAGERS"
            for am in "${ams[@]}"; do printf '            - "%s"\n' "$am"; done
        } >>"$PROM_RENDER_DIR/prometheus.yml"
    fi
    local template name
    rm -f -- "$PROM_RENDER_DIR"/rules/*.yml
    for template in "$PROM_TEMPLATE_DIR"/rules/*.yml.tmpl; do
        [ -e "$template" ] || continue
        name="$(basename -- "$template" .tmpl)"
        render_file "$template" "$PROM_RENDER_DIR/rules/$name"
    done
    printf '%s\n' "$PROM_RENDER_DIR/prometheus.yml"
}

config_file() {
    if [ -n "$PROM_CONFIG_FILE" ]; then
        [ -r "$PROM_CONFIG_FILE" ] || die "PROM_CONFIG_FILE=$PROM_CONFIG_FILE is not readable"
        log "using the mounted configuration $PROM_CONFIG_FILE (no rendering)"
        printf '%s\n' "$PROM_CONFIG_FILE"
    else
        render
    fi
}

# refuse_unsafe_flags FLAG...: the admin API (delete series, snapshots), the
# lifecycle endpoints (/-/quit, /-/reload) and the remote-write receiver let
# anyone who reaches the port change or stop Prometheus.
refuse_unsafe_flags() {
    local flag
    [ "$PROM_ALLOW_UNSAFE_FLAGS" = "true" ] && return 0
    for flag in "$@"; do
        case "$flag" in
            --web.enable-admin-api* | --web.enable-lifecycle* | --web.enable-remote-write-receiver* \
                | --enable-feature=*remote-write-receiver*)
                die "$flag lets anyone who reaches the port change or stop Prometheus; set PROM_ALLOW_UNSAFE_FLAGS=true to allow it"
                ;;
        esac
    done
}

healthcheck() {
    local port status
    port="$(listen_port)"
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET /-/healthy HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 status <&3 || exit 1
    exec 3<&-
    [[ "$status" == HTTP/1.?" 200"* ]] && return 0
    # Behind PROM_WEB_CONFIG_FILE's basic auth /-/healthy answers 401: alive too.
    [ -n "$PROM_WEB_CONFIG_FILE" ] && [[ "$status" == HTTP/1.?" 401"* ]] && return 0
    exit 1
}

main() {
    if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
        set -- serve "$@"
    fi
    case "$1" in
        render)
            validate
            render
            ;;
        check)
            local config
            config="$(config_file)"
            exec "$PROMTOOL_BIN" check config "$config"
            ;;
        healthcheck)
            healthcheck
            ;;
        serve)
            shift
            [ "$(id -u)" != "0" ] || log "WARNING: running as root; the image runs as prometheus"
            validate
            refuse_unsafe_flags "$@"
            local config
            config="$(config_file)"
            local retention=() web_config=()
            if [ -n "$PROM_WEB_CONFIG_FILE" ]; then
                web_config=("--web.config.file=$PROM_WEB_CONFIG_FILE")
            fi
            if [ "$PROM_RETENTION_SIZE" != "0" ]; then
                retention=("--storage.tsdb.retention.size=$PROM_RETENTION_SIZE")
            fi
            log "starting prometheus on $PROM_LISTEN with $config (targets from $PROM_TARGETS_DIR)"
            exec "$PROMETHEUS_BIN" \
                "--config.file=$config" \
                "--storage.tsdb.path=$PROM_STORAGE_PATH" \
                "--storage.tsdb.retention.time=$PROM_RETENTION_TIME" \
                "${retention[@]}" \
                "--web.listen-address=$PROM_LISTEN" \
                "--web.cors.origin=$PROM_CORS_ORIGIN" \
                "${web_config[@]}" \
                "--web.console.templates=/etc/prometheus/consoles" \
                "--web.console.libraries=/etc/prometheus/console_libraries" \
                "$@"
            ;;
        *)
            exec "$@"
            ;;
    esac
}

main "$@"
