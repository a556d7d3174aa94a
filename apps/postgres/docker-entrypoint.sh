#!/bin/bash
# Entrypoint of the school PostgreSQL image.
#
# First start (no cluster in $PGDATA): initdb, run sql/init.sql on a
# private, socket-only temporary server (roles, database, schema, seed data,
# grants), stop it.  Every start: render pg_hba.conf from the environment,
# drop the secrets from the environment and exec the postgres server, which
# becomes PID 1.  Must run as a non-root user (the image uses "postgres").
#
# Usage: docker-entrypoint.sh [postgres] [extra postgres options...]
#        docker-entrypoint.sh <other command>   (exec'd as is, e.g. bash)
set -Eeuo pipefail

PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
SCHOOL_SQL_DIR="${SCHOOL_SQL_DIR:-/usr/share/school-db/sql}"
SCHOOL_PG_CONF="${SCHOOL_PG_CONF:-/etc/school-db/postgresql.conf}"
PG_SOCKET_DIR="${PG_SOCKET_DIR:-/var/run/postgresql}"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGPORT="${PGPORT:-5432}"
POSTGRES_DB="${POSTGRES_DB:-school}"
POSTGRES_USER="${POSTGRES_USER:-school_owner}"
ETL_READER_USER="${ETL_READER_USER:-etl_reader}"
ETL_WRITER_USER="${ETL_WRITER_USER:-etl_writer}"
POSTGRES_HBA_ADDRESS="${POSTGRES_HBA_ADDRESS:-samenet}"
POSTGRES_LISTEN_ADDRESSES="${POSTGRES_LISTEN_ADDRESSES:-*}"
SEED_ROWS="${SEED_ROWS:-100000}"

log() { printf '%s docker-entrypoint: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# file_env NAME: the value of NAME_FILE's contents (wins) or of NAME; the
# trailing newline of the file is dropped.  Sets NAME, unsets NAME_FILE.
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

valid_ident() { [[ "$1" =~ ^[a-z_][a-z0-9_]{0,62}$ ]]; }

check_settings() {
    local v
    for v in POSTGRES_DB POSTGRES_USER ETL_READER_USER ETL_WRITER_USER; do
        valid_ident "${!v}" || die "$v=${!v} is not a valid lower-case SQL identifier"
    done
    [[ "$PGPORT" =~ ^[0-9]{1,5}$ ]] || die "PGPORT=$PGPORT is not a port number"
    [[ "$SEED_ROWS" =~ ^[0-9]{1,9}$ ]] || die "SEED_ROWS=$SEED_ROWS is not a non-negative integer"
    [[ "$POSTGRES_HBA_ADDRESS" =~ ^(samenet|samehost|all|[0-9A-Fa-f:.]+/[0-9]{1,3})$ ]] \
        || die "POSTGRES_HBA_ADDRESS=$POSTGRES_HBA_ADDRESS must be samenet, samehost, all or a CIDR"
    [[ "$POSTGRES_LISTEN_ADDRESSES" =~ ^[-*0-9A-Za-z:.,\ ]+$ ]] \
        || die "POSTGRES_LISTEN_ADDRESSES=$POSTGRES_LISTEN_ADDRESSES is not a list of addresses"
}

init_cluster() {
    local v
    for v in POSTGRES_PASSWORD ETL_READER_PASSWORD ETL_WRITER_PASSWORD; do
        [ -n "${!v}" ] || die "$v (or ${v}_FILE) is required to initialise the database"
    done
    if [ -d "$PGDATA" ] && [ -n "$(ls -A -- "$PGDATA")" ]; then
        die "$PGDATA is not empty but holds no cluster (no PG_VERSION): refusing to touch it"
    fi
    log "initialising a new cluster in $PGDATA (SEED_ROWS=$SEED_ROWS)"
    "$PG_BINDIR/initdb" --pgdata="$PGDATA" --username=postgres --encoding=UTF8 \
        --no-locale --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    printf "\n# Added by docker-entrypoint.sh: the image's settings.\ninclude_if_exists = '%s'\n" \
        "$SCHOOL_PG_CONF" >>"$PGDATA/postgresql.conf"

    # Temporary server: no TCP at all (so the healthcheck, which uses TCP,
    # stays red), socket in a private directory, trust only there.
    local init_sock="$PG_SOCKET_DIR/init.$$"
    mkdir -m 0700 "$init_sock"
    printf 'local all postgres trust\n' >"$init_sock/pg_hba.conf"
    "$PG_BINDIR/pg_ctl" --pgdata="$PGDATA" --wait --timeout=120 --silent \
        -o "-c listen_addresses='' -c unix_socket_directories='$init_sock' -c hba_file='$init_sock/pg_hba.conf'" \
        start
    local started=$SECONDS
    if ! PGHOST="$init_sock" PGUSER=postgres PGDATABASE=postgres \
        POSTGRES_DB="$POSTGRES_DB" POSTGRES_USER="$POSTGRES_USER" \
        ETL_READER_USER="$ETL_READER_USER" ETL_WRITER_USER="$ETL_WRITER_USER" \
        SEED_ROWS="$SEED_ROWS" \
        "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -f "$SCHOOL_SQL_DIR/init.sql"; then
        "$PG_BINDIR/pg_ctl" --pgdata="$PGDATA" --mode=immediate --wait --silent stop || true
        rm -rf -- "$init_sock"
        # Leave no half-initialised cluster behind: the next start retries.
        find "$PGDATA" -mindepth 1 -delete
        die "init.sql failed; $PGDATA was emptied so the next start retries"
    fi
    "$PG_BINDIR/pg_ctl" --pgdata="$PGDATA" --mode=fast --wait --silent stop
    rm -rf -- "$init_sock"
    log "database $POSTGRES_DB initialised and seeded in $((SECONDS - started))s"
}

render_hba() {
    local roles="$POSTGRES_USER,$ETL_READER_USER,$ETL_WRITER_USER" tmp="$PGDATA/pg_hba.conf.tmp"
    {
        printf '# Rendered by docker-entrypoint.sh at every start: edits here are overwritten.\n'
        printf '# TYPE    DATABASE    USER    ADDRESS    METHOD\n'
        printf '# The superuser has no password: only a local peer login (docker exec).\n'
        printf 'local    all    postgres    peer\n'
        printf 'local    %s    %s    scram-sha-256\n' "$POSTGRES_DB" "$roles"
        printf 'host    %s    %s    %s    scram-sha-256\n' "$POSTGRES_DB" "$roles" "$POSTGRES_HBA_ADDRESS"
        printf '# Anything else (other users, other databases, replication) is rejected.\n'
    } >"$tmp"
    mv -f -- "$tmp" "$PGDATA/pg_hba.conf"
}

main() {
    if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
        set -- postgres "$@"
    fi
    if [ "$1" != "postgres" ]; then
        exec "$@"
    fi
    shift
    [ "$(id -u)" != "0" ] || die "refusing to run as root: run as the postgres user"
    check_settings
    [ -w "$PG_SOCKET_DIR" ] || die "$PG_SOCKET_DIR is not writable by uid $(id -u): with --read-only use --tmpfs $PG_SOCKET_DIR:uid=$(id -u),gid=$(id -g)"
    file_env POSTGRES_PASSWORD
    file_env ETL_READER_PASSWORD
    file_env ETL_WRITER_PASSWORD
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        init_cluster
    else
        log "existing cluster found in $PGDATA: skipping initialisation and seeding"
    fi
    render_hba
    unset POSTGRES_PASSWORD ETL_READER_PASSWORD ETL_WRITER_PASSWORD
    log "starting postgres on port $PGPORT (listen_addresses=$POSTGRES_LISTEN_ADDRESSES)"
    exec "$PG_BINDIR/postgres" -D "$PGDATA" -p "$PGPORT" \
        -c "listen_addresses=$POSTGRES_LISTEN_ADDRESSES" \
        -c "unix_socket_directories=$PG_SOCKET_DIR" "$@"
}

main "$@"
