#!/bin/bash
# Entry point of labs/rsyslog: serve (default) | healthcheck | any command.
#   LOGS_KEEP_DAYS   days of files kept under /var/log/labs (default 7); older ones are removed hourly.
set -euo pipefail

LOGS_KEEP_DAYS="${LOGS_KEEP_DAYS:-7}"
[[ "$LOGS_KEEP_DAYS" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "LOGS_KEEP_DAYS=$LOGS_KEEP_DAYS is not a whole number of days" >&2; exit 2; }

case "${1:-serve}" in
    serve)
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
