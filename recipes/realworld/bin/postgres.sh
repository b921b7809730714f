#!/bin/sh
# Run a PostgreSQL server for stagedeck: initialise the data directory on the
# first start, then exec the server in the foreground (stagedeck stops it).
#
#   sh postgres.sh DATA_DIR PORT
#
# PGPASSWORD (from the recipe's [secrets]) becomes the superuser's password
# when the data directory is created. The server listens on 127.0.0.1 only and
# makes no Unix socket, so it never collides with a system PostgreSQL.
set -eu
data=$1
port=$2

bin=""
for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -n -r); do
    if [ -x "$dir/postgres" ]; then bin=$dir; break; fi
done
if [ -z "$bin" ] && command -v pg_config >/dev/null 2>&1; then bin=$(pg_config --bindir); fi
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
    echo "postgres.sh: error: no PostgreSQL server found; install the Debian package 'postgresql'" >&2
    exit 127
fi

# PostgreSQL refuses to run as root. As root we run it as the 'postgres' user and
# keep one capability (CAP_DAC_OVERRIDE) so it can reach a data directory inside
# root's private home or a 0700 temporary directory.
as_pg=""
if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "postgres.sh: error: running as root needs a 'postgres' user (the Debian package 'postgresql' creates it)" >&2
        exit 1
    fi
    as_pg="setpriv --reuid=postgres --regid=postgres --init-groups"
    if $as_pg --inh-caps=+dac_override --ambient-caps=+dac_override true 2>/dev/null; then
        as_pg="$as_pg --inh-caps=+dac_override --ambient-caps=+dac_override"
    else
        echo "postgres.sh: warning: cannot keep CAP_DAC_OVERRIDE; $data must be reachable by the postgres user" >&2
    fi
fi

mkdir -p "$data"
if [ ! -s "$data/PG_VERSION" ]; then
    echo "postgres.sh: initialising $data"
    chmod 700 "$data"
    if [ -n "$as_pg" ]; then chown postgres:postgres "$data"; fi
    auth="--auth=trust"
    pwfile=""
    if [ -n "${PGPASSWORD:-}" ]; then
        pwfile="$(dirname "$data")/.pg-initial-password.$$"
        (umask 077 && printf '%s\n' "$PGPASSWORD" >"$pwfile")
        if [ -n "$as_pg" ]; then chown postgres "$pwfile"; fi
        auth="--auth-local=trust --auth-host=scram-sha-256 --pwfile=$pwfile"
    else
        echo "postgres.sh: warning: PGPASSWORD is not set; connections are trusted without a password" >&2
    fi
    # shellcheck disable=SC2086  # $as_pg and $auth are word lists on purpose
    if ! $as_pg "$bin/initdb" --pgdata="$data" --username=postgres --encoding=UTF8 --no-instructions $auth; then
        [ -z "$pwfile" ] || rm -f "$pwfile"
        echo "postgres.sh: error: initdb failed; remove $data to try again" >&2
        exit 1
    fi
    [ -z "$pwfile" ] || rm -f "$pwfile"
fi

# shellcheck disable=SC2086
exec $as_pg "$bin/postgres" -D "$data" -p "$port" \
    -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c logging_collector=off
