#!/bin/bash
# Entry point of labs/rsyslog: serve (default) | check (render and validate the configuration) | healthcheck
# | any command.
#   LOGS_KEEP_DAYS   days of files kept under /var/log/labs (default 7); older ones are removed hourly.
#   LOGS_FORWARD_TO  host:port of a central collector: every line is also sent there over TCP (queued, on the
#                    spool, while it is unreachable). Empty: nothing is forwarded.
set -euo pipefail

LOGS_KEEP_DAYS="${LOGS_KEEP_DAYS:-7}"
[[ "$LOGS_KEEP_DAYS" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "LOGS_KEEP_DAYS=$LOGS_KEEP_DAYS is not a whole number of days" >&2; exit 2; }
LOGS_FORWARD_TO="${LOGS_FORWARD_TO:-}"
FORWARD_CONF=/tmp/rsyslog-forward.conf

render_forward() {
    if [ -z "$LOGS_FORWARD_TO" ]; then
        echo 'ruleset(name="forward") { continue }' >"$FORWARD_CONF"
        return
    fi
    [[ "$LOGS_FORWARD_TO" =~ ^([A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$ ]] \
        || { echo "LOGS_FORWARD_TO=$LOGS_FORWARD_TO is not host:port" >&2; exit 2; }
    cat >"$FORWARD_CONF" <<EOF
ruleset(name="forward") {
    action(type="omfwd" target="${BASH_REMATCH[1]}" port="${BASH_REMATCH[2]}" protocol="tcp"
           template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="5"
           queue.type="LinkedList" queue.size="20000" queue.filename="forward" queue.maxDiskSpace="32m"
           queue.saveOnShutdown="on")
}
EOF
}

case "${1:-serve}" in
    check)
        render_forward
        rsyslogd -N1 -f /etc/rsyslog.conf
        cat "$FORWARD_CONF"
        ;;
    serve)
        render_forward
        rsyslogd -N1 -f /etc/rsyslog.conf >/dev/null
        # Rotation: one file per day; the days beyond LOGS_KEEP_DAYS go (checked every hour).
        (
            while sleep 3600; do
                find /var/log/labs -type f -name '*.log' -mtime "+$((LOGS_KEEP_DAYS - 1))" -delete
                find /var/log/labs -mindepth 1 -type d -empty -delete
            done
        ) &
        exec rsyslogd -n -iNONE -f /etc/rsyslog.conf
        ;;
    healthcheck)
        # rsyslogd is PID 1 and its UDP socket is bound (port 5514 = 0x158A in /proc/net/udp*).
        [ "$(cat /proc/1/comm)" = "rsyslogd" ] && grep -qi ':158A ' /proc/net/udp /proc/net/udp6
        ;;
    *)
        exec "$@"
        ;;
esac
