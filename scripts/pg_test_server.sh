#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests: scripts/pg_test_server.sh start|stop|url|env DIR
#
#   start DIR  initdb into DIR/data (once), start on 127.0.0.1 and a free port, wait until it
#              accepts connections, write DIR/url and DIR/pid, print the URL. A DIR whose
#              server is already running just prints its URL.
#   stop DIR   stop the server by its pid (pg_ctl stop -m fast, then signals), remove its data,
#              socket, url and pid; DIR/pg.log stays for reading.
#   url DIR    print the URL of the running server (exit 1 when it is not running).
#   env DIR    print "export PARMAP_PG_URL=..." and "export PARMAP_PG_SSL_ROOT=..." for eval.
#   restart DIR  stop the running server (pg_ctl stop -m fast: sessions are cut) and start it
#              again on the same port, for tests of a server restarted mid-run.
#
# The superuser is `parmap`, trusted on 127.0.0.1 and on the socket (DIR/sock) only. A second
# role `parmap_pw` (password 'secret-pw', CREATEDB) must authenticate with scram-sha-256, for
# password tests. As root the cluster runs as the system user `parmap-test` (created when
# missing) and DIR is given to it, since PostgreSQL refuses to run as root.
#
# The server also speaks TLS, with a self-signed certificate made at start (DIR/server.crt,
# CN=localhost, SANs localhost and 127.0.0.1; key DIR/server.key), which is its own root:
# PARMAP_PG_SSL_ROOT names it, for sslmode=verify-full. The `host` lines above accept plain
# and TLS connections alike; a third role `parmap_tls` (password 'tls-secret-pw') is let in
# over TLS only (hostssl), and refused without it (hostnossl ... reject), so that tests can
# tell a TLS session from a plain one.
set -euo pipefail

usage() {
  echo "usage: scripts/pg_test_server.sh start|stop|restart|url|env DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m -- "$2")  # absolute: the socket directory setting needs it
case "$cmd" in start | stop | restart | url | env) ;; *) usage ;; esac

pgbin=/usr/lib/postgresql/15/bin
run_user=parmap-test
superuser=parmap
pw_role=parmap_pw
pw_secret=secret-pw
tls_role=parmap_tls
tls_secret=tls-secret-pw
cert_file=server.crt  # in DIR; self-signed, so it is also the root to verify against
key_file=server.key

die() {
  echo "pg_test_server: $*" >&2
  exit 1
}

# Runs a command as the cluster's owner: ourselves, or parmap-test when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$run_user" -- "$@"
  else
    "$@"
  fi
}

# The postmaster's pid from DIR/pid when that process is alive, else nothing.
running_pid() {
  [ -f "$dir/pid" ] || return 0
  local pid
  pid=$(head -n1 "$dir/pid" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
  fi
}

# True when nothing listens on 127.0.0.1:PORT and we may bind it.
port_free() {
  local port=$1
  if command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import sys' >/dev/null 2>&1; then
    python3 - "$port" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
  else
    # No python: a port that refuses a connection is taken by no one (good enough here).
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 1; fi
  fi
}

make_url() {  # PORT
  echo "postgresql://$superuser@127.0.0.1:$1/postgres"
}

do_url() {
  if [ -z "$(running_pid)" ] || [ ! -f "$dir/url" ]; then die "no server running in $dir"; fi
  cat "$dir/url"
}

do_stop() {
  local pid
  pid=$(running_pid)
  if [ -n "$pid" ]; then
    if [ -d "$dir/data" ]; then
      as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # pg_ctl failed or timed out: ask for an immediate shutdown, then insist.
    if kill -0 "$pid" 2>/dev/null; then
      kill -QUIT "$pid" 2>/dev/null || true
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -rf "$dir/data" "$dir/sock"
  rm -f "$dir/url" "$dir/pid" "$dir/port" "$dir/$cert_file" "$dir/$key_file"
}

# Makes the server's key and self-signed certificate in DIR unless a certificate valid for at
# least another hour is there. Run as the cluster's owner: PostgreSQL wants the key owned by
# it and readable by nobody else.
make_certificate() {
  if [ -f "$dir/$key_file" ] && [ -f "$dir/$cert_file" ] &&
    openssl x509 -checkend 3600 -noout -in "$dir/$cert_file" >/dev/null 2>&1; then
    return 0
  fi
  command -v openssl >/dev/null 2>&1 || die "no openssl: install it (scripts/setup.sh does)"
  rm -f "$dir/$key_file" "$dir/$cert_file"
  # CA:TRUE and keyCertSign: the certificate is also the root that clients trust.
  as_owner openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    -keyout "$dir/$key_file" -out "$dir/$cert_file" >"$dir/openssl.log" 2>&1 ||
    die "could not make the TLS certificate: $(tail -n 20 "$dir/openssl.log")"
  as_owner chmod 0600 "$dir/$key_file"
  as_owner chmod 0644 "$dir/$cert_file"
}

# Turns TLS on and lets parmap_tls in over TLS only. Idempotent, so that a data folder made
# by an older version of this script (without TLS) gets it too.
configure_tls() {
  make_certificate
  if ! grep -q "^# pg_test_server.sh: TLS" "$dir/data/postgresql.conf"; then
    as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# pg_test_server.sh: TLS with the self-signed certificate in DIR (plain connections still work).
ssl = on
ssl_cert_file = '$dir/$cert_file'
ssl_key_file = '$dir/$key_file'
EOF
  fi
  if ! grep -q "^hostssl .* $tls_role " "$dir/data/pg_hba.conf"; then
    as_owner tee -a "$dir/data/pg_hba.conf" >/dev/null <<EOF
# parmap_tls: TLS only (and not on the socket, which no line allows it).
hostnossl all     $tls_role  127.0.0.1/32   reject
hostssl all       $tls_role  127.0.0.1/32   scram-sha-256
EOF
  fi
}

init_cluster() {
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    if ! id "$run_user" >/dev/null 2>&1; then
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        "$run_user"
    fi
    chown "$run_user:" "$dir"
    chmod 0700 "$dir"
    as_owner test -w "$dir" ||
      die "$run_user cannot write $dir (every parent folder must be reachable by it)"
  fi
  [ -x "$pgbin/initdb" ] || die "no $pgbin/initdb: install postgresql (scripts/setup.sh does)"
  as_owner mkdir -p "$dir/sock"
  # Unix socket paths are limited to 107 bytes.
  [ ${#dir} -le 80 ] || die "DIR is too long for a Unix socket path: $dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    as_owner "$pgbin/initdb" -D "$dir/data" -U "$superuser" --auth=trust --encoding=UTF8 \
      --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
      die "initdb failed: $(tail -n 20 "$dir/initdb.log")"
    # PARMAP_PG_DURABLE=1 keeps PostgreSQL's durable defaults (fsync, synchronous commit, full
    # page writes), as a production server has them: the benchmarks measure that case.
    local durability="fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0"
    [ "${PARMAP_PG_DURABLE:-0}" = 1 ] && durability="# durable: PostgreSQL's defaults"
    as_owner tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# pg_test_server.sh: a throwaway test cluster (durability off unless PARMAP_PG_DURABLE=1);
# TCP on 127.0.0.1 only.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir/sock'
max_connections = 100
shared_buffers = 128MB
$durability
password_encryption = 'scram-sha-256'
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_messages = warning
EOF
    as_owner tee "$dir/data/pg_hba.conf" >/dev/null <<EOF
# pg_test_server.sh: the superuser is trusted locally; parmap_pw needs its password.
# TYPE  DATABASE  USER        ADDRESS        METHOD
local   all       $superuser                 trust
host    all       $superuser  127.0.0.1/32   trust
local   all       $pw_role                   scram-sha-256
host    all       $pw_role    127.0.0.1/32   scram-sha-256
EOF
  fi
  configure_tls
}

# Stops the running server with a fast shutdown and starts it on the same port, with the same
# data, so that URLs stay valid. Separate from start/stop: it touches neither the data folder's
# settings nor the URL.
do_restart() {
  local pid port
  pid=$(running_pid)
  [ -n "$pid" ] && [ -f "$dir/port" ] || die "no server running in $dir"
  port=$(cat "$dir/port")
  as_owner "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
    die "could not stop the server in $dir; $dir/pg.log says: $(tail -n 20 "$dir/pg.log")"
  as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 -o "-p $port" start \
    >/dev/null 2>&1 ||
    die "could not start the server again on port $port; $dir/pg.log says: $(tail -n 20 "$dir/pg.log")"
  head -n1 "$dir/data/postmaster.pid" >"$dir/pid"
}

do_start() {
  local pid
  pid=$(running_pid)
  if [ -n "$pid" ] && [ -f "$dir/url" ]; then
    cat "$dir/url"
    return 0
  fi
  [ -z "$pid" ] || do_stop  # a server without a URL is half-started: start over
  rm -f "$dir/pid" "$dir/url"
  init_cluster

  # Several test runs may look for a port at once: a start that loses the race is retried
  # on the next port.
  local port=$((54330 + $$ % 400)) tries=0 started=0
  while [ $tries -lt 40 ]; do
    tries=$((tries + 1))
    port=$((port + 1))
    port_free "$port" || continue
    local log_lines=0
    [ -f "$dir/pg.log" ] && log_lines=$(wc -l <"$dir/pg.log")
    if as_owner "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
      -o "-p $port" start >/dev/null 2>&1; then
      started=1
      break
    fi
    local new_log
    new_log=$(tail -n +$((log_lines + 1)) "$dir/pg.log" 2>/dev/null || true)
    grep -q "could not bind\|Address already in use" <<<"$new_log" ||
      die "the server did not start; $dir/pg.log says: $(tail -n 20 <<<"$new_log")"
  done
  [ $started = 1 ] || die "no free port found after $tries tries"

  pid=$(head -n1 "$dir/data/postmaster.pid")
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  local ready=0
  for _ in $(seq 300); do
    if "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U "$superuser"; then
      ready=1
      break
    fi
    sleep 0.1
  done
  [ $ready = 1 ] || { do_stop; die "the server on port $port never became ready"; }

  "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres \
    >/dev/null <<EOF || { do_stop; die "could not create roles $pw_role and $tls_role"; }
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$pw_role') THEN
    CREATE ROLE $pw_role LOGIN CREATEDB PASSWORD '$pw_secret';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$tls_role') THEN
    CREATE ROLE $tls_role LOGIN PASSWORD '$tls_secret';
  END IF;
END \$\$;
EOF
  make_url "$port" >"$dir/url"
  cat "$dir/url"
}

case "$cmd" in
  start) do_start ;;
  restart) do_restart ;;
  stop) do_stop ;;
  url) do_url ;;
  env)
    url=$(do_url)
    echo "export PARMAP_PG_URL=$url"
    # Absent for a server started by an older version of this script; tests then skip.
    if [ -f "$dir/$cert_file" ]; then
      printf 'export PARMAP_PG_SSL_ROOT=%q\n' "$dir/$cert_file"
    fi
    ;;
esac
