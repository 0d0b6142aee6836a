# Sourced by scripts/test: starts a PostgreSQL cluster owned by this test run on a free
# loopback port (installing Debian's postgresql when it is missing), exports
# BINDERY_PG_URL, BINDERY_PG_PASSWORD, BINDERY_PG_CA (the CA of the server's TLS certificate)
# and BINDERY_PG_CTL (pg_ctl on this cluster, for fault tests) for the tests, and stops and
# removes the cluster when the run ends.

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "bindery setup: installing postgresql from Debian's packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi

pg_dir="$(mktemp -d /tmp/bindery-pg.XXXXXX)"
pg_as=()
if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root: the cluster belongs to Debian's postgres user.
    chown postgres "$pg_dir"
    pg_as=(runuser -u postgres --)
fi
pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export BINDERY_PG_PASSWORD="bindery-test-$RANDOM$RANDOM"
printf '%s\n' "$BINDERY_PG_PASSWORD" >"$pg_dir/pw"
chmod 644 "$pg_dir/pw"
"${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U bindery --pwfile="$pg_dir/pw" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 ||
    { cat "$pg_dir/initdb.log" >&2; exit 1; }
rm -f "$pg_dir/pw"
# TLS with a certificate of its own for 127.0.0.1; BINDERY_PG_CA verifies it.
openssl req -new -x509 -days 2 -nodes -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$pg_dir/server.key" -out "$pg_dir/server.crt" >/dev/null 2>&1
chmod 600 "$pg_dir/server.key"
if [ "$(id -u)" -eq 0 ]; then chown postgres "$pg_dir/server.key" "$pg_dir/server.crt"; fi
export BINDERY_PG_CA="$pg_dir/server.crt"
export BINDERY_PG_CTL="${pg_as[*]} $pg_bin/pg_ctl -D $pg_dir/data -l $pg_dir/server.log -o '-p $pg_port -h 127.0.0.1 -k $pg_dir -c max_connections=200 -c ssl=on -c ssl_cert_file=$pg_dir/server.crt -c ssl_key_file=$pg_dir/server.key'"
eval "$BINDERY_PG_CTL -w start" >/dev/null
export BINDERY_PG_URL="postgres://bindery@127.0.0.1:$pg_port/postgres"
echo "bindery test: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port ($pg_dir)" >&2

bindery_stop_postgres() {
    eval "$BINDERY_PG_CTL -m fast stop" >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
bindery_on_exit="${bindery_on_exit:-}bindery_stop_postgres; "
trap 'eval "$bindery_on_exit"' EXIT
