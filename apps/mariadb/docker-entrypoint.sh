#!/bin/bash
# Entrypoint of the lab 002 MariaDB image.
#
# First start (no mysql/ system schema in the data directory): mariadb-install-db,
# then a temporary server with no TCP on a private socket sets the root
# password, creates the app's database and its user (rights on that database
# only), removes every other account, and stops. Every start: drop the secrets
# from the environment and exec mariadbd, which becomes PID 1. Must run as a
# non-root user (the image uses "mysql").
#
# Usage: docker-entrypoint.sh [mariadbd] [extra mariadbd options...]
#        docker-entrypoint.sh <other command>   (exec'd as is, e.g. bash)
set -Eeuo pipefail

DATADIR="${MARIADB_DATADIR:-/var/lib/mysql}"
SOCKET_DIR="${MARIADB_SOCKET_DIR:-/run/mysqld}"
MARIADB_DATABASE="${MARIADB_DATABASE:-appdb}"
MARIADB_USER="${MARIADB_USER:-appuser}"

log() { printf '%s docker-entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# file_env NAME: the contents of the file NAME_FILE names (wins) or $NAME;
# a trailing newline is dropped. Sets NAME, unsets NAME_FILE.
file_env() {
    local name="$1" file_var="${1}_FILE" value=""
    if [ -n "${!file_var:-}" ]; then
        [ -r "${!file_var}" ] || die "${file_var}=${!file_var} is not a readable file"
        value="$(cat -- "${!file_var}")"
    elif [ -n "${!name:-}" ]; then
        value="${!name}"
    fi
    export "$name"="$value"
    unset "$file_var"
}

check_settings() {
    [[ "$MARIADB_DATABASE" =~ ^[A-Za-z_][A-Za-z0-9_]{0,63}$ ]] \
        || die "MARIADB_DATABASE=$MARIADB_DATABASE is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)"
    [[ "$MARIADB_USER" =~ ^[A-Za-z_][A-Za-z0-9_]{0,79}$ ]] \
        || die "MARIADB_USER=$MARIADB_USER is not a plain user name ([A-Za-z_][A-Za-z0-9_]*)"
    [ "$MARIADB_USER" != root ] || die "MARIADB_USER must not be root"
}

# sql_string VALUE: VALUE as a single-quoted SQL string literal.
sql_string() {
    local s="${1//\\/\\\\}"
    printf "'%s'" "${s//\'/\'\'}"
}

init_datadir() {
    local v
    for v in MARIADB_ROOT_PASSWORD MARIADB_PASSWORD; do
        [ -n "${!v}" ] || die "$v (or ${v}_FILE) is required to initialise the database"
    done
    if [ -n "$(ls -A -- "$DATADIR")" ]; then
        die "$DATADIR is not empty but holds no MariaDB system schema: refusing to touch it"
    fi
    log "initialising a new data directory in $DATADIR"
    mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve >/dev/null

    local sock="$SOCKET_DIR/init.$$.sock"
    mariadbd --datadir="$DATADIR" --skip-networking --socket="$sock" \
        --pid-file="$SOCKET_DIR/init.$$.pid" &
    local pid=$! i
    for i in $(seq 1 60); do
        mariadb-admin --socket="$sock" --user=root ping --silent 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || die "the temporary server exited during initialisation"
        sleep 0.5
    done
    if ! mariadb --protocol=socket --socket="$sock" --user=root --batch <<SQL
-- Only root@localhost (socket, with its password), mariadb.sys (the locked definer of the system
-- views), the app's user and mysql@localhost (the
-- healthcheck: the server's own OS user over the socket, unix_socket authentication, no privilege)
-- remain.
DELETE FROM mysql.global_priv WHERE NOT (User IN ('root', 'mariadb.sys') AND Host = 'localhost');
DELETE FROM mysql.db;
DELETE FROM mysql.proxies_priv WHERE NOT (User = 'root' AND Host = 'localhost');
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MARIADB_ROOT_PASSWORD");
CREATE DATABASE \`$MARIADB_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");
GRANT ALL PRIVILEGES ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';
CREATE USER '$(id -un)'@'localhost' IDENTIFIED VIA unix_socket;
FLUSH PRIVILEGES;
SQL
    then
        kill "$pid" 2>/dev/null || true
        wait "$pid" || true
        find "$DATADIR" -mindepth 1 -delete
        die "initialisation SQL failed: $DATADIR emptied so the next start retries"
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    log "database $MARIADB_DATABASE and user $MARIADB_USER created"
}

if [ "$(id -u)" = 0 ]; then
    die "refusing to run as root: run as the mysql user (uid 999)"
fi

if [ "${1:-mariadbd}" = mariadbd ] || [ "${1:-}" = mysqld ]; then
    [ $# -gt 0 ] && shift
    check_settings
    file_env MARIADB_ROOT_PASSWORD
    file_env MARIADB_PASSWORD
    [ -w "$SOCKET_DIR" ] || die "$SOCKET_DIR is not writable by uid $(id -u): mount a tmpfs owned by it (tmpfs $SOCKET_DIR:uid=999,gid=999)"
    if [ -d "$DATADIR/mysql" ]; then
        log "existing data directory found: no initialisation"
    else
        init_datadir
    fi
    unset MARIADB_ROOT_PASSWORD MARIADB_PASSWORD
    exec mariadbd "$@"
fi
exec "$@"
