#!/usr/bin/env bash
# A throwaway MariaDB server for tests: scripts/mariadb_test_server.sh start|stop|url|env DIR
#
#   start DIR  install a data folder into DIR/data (once), start mariadbd on 127.0.0.1 and a
#              free port, wait until it accepts connections, write DIR/url and DIR/pid, print
#              the URL. A DIR whose server is already running just prints its URL.
#   stop DIR   stop the server by its pid (TERM, then KILL), remove its data, socket, url and
#              pid; DIR/mariadb.log stays for reading.
#   url DIR    print the URL of the running server (exit 1 when it is not running).
#   env DIR    print "export PARMAP_MARIADB_URL=..." for eval.
#
# The test user is `parmap` without a password, allowed from 127.0.0.1 only, owning the
# database `parmap_test`; a second user `parmap_pw` (password 'secret-pw') is for password
# tests. LOAD DATA LOCAL INFILE is allowed. As root the server runs as the system user
# `parmap-test` (created when missing), as the PostgreSQL test server does. Durability is off
# (innodb_flush_log_at_trx_commit=0, no binary log): the data is thrown away anyway.
set -euo pipefail

usage() {
  echo "usage: scripts/mariadb_test_server.sh start|stop|url|env DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m -- "$2")
case "$cmd" in start | stop | url | env) ;; *) usage ;; esac

run_user=parmap-test
test_user=parmap
pw_user=parmap_pw
pw_secret=secret-pw
database=parmap_test

die() {
  echo "mariadb_test_server: $*" >&2
  exit 1
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$run_user" -- "$@"
  else
    "$@"
  fi
}

running_pid() {
  [ -f "$dir/pid" ] || return 0
  local pid
  pid=$(head -n1 "$dir/pid" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    echo "$pid"
  fi
}

port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 1; fi
}

do_url() {
  if [ -z "$(running_pid)" ] || [ ! -f "$dir/url" ]; then die "no server running in $dir"; fi
  cat "$dir/url"
}

do_stop() {
  local pid
  pid=$(running_pid)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -rf "$dir/data" "$dir/sock"
  rm -f "$dir/url" "$dir/pid" "$dir/port"
}

init_data() {
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
  command -v mariadb-install-db >/dev/null 2>&1 ||
    die "no mariadb-install-db: install mariadb-server (scripts/setup.sh does)"
  [ ${#dir} -le 80 ] || die "DIR is too long for a Unix socket path: $dir"
  if [ ! -d "$dir/data/mysql" ]; then
    rm -rf "$dir/data"
    as_owner mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=socket \
      --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1 ||
      die "mariadb-install-db failed: $(tail -n 20 "$dir/install.log")"
  fi
}

do_start() {
  if [ -n "$(running_pid)" ] && [ -f "$dir/url" ]; then
    cat "$dir/url"
    return 0
  fi
  init_data
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 20000))
    port_free "$port" && break
  done
  as_owner mkdir -p "$dir/sock"
  # Started in the background by ourselves (not mysqld_safe) so that DIR/pid is the server's.
  as_owner /usr/sbin/mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock/mysqld.sock" \
    --port="$port" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/data/mariadbd.pid" \
    --log-error="$dir/mariadb.log" --local-infile=1 --max-connections=200 \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
    --skip-log-bin --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    --max-allowed-packet=256M >/dev/null 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  local ok=0
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      die "mariadbd exited: $(tail -n 20 "$dir/mariadb.log" 2>/dev/null)"
    fi
    if mariadb-admin --no-defaults --socket="$dir/sock/mysqld.sock" ping >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || die "mariadbd did not start: $(tail -n 20 "$dir/mariadb.log" 2>/dev/null)"
  # $! is the shell that runs as_owner (and, as root, runuser): stop must signal the server
  # itself, whose own pid file is written by now.
  local server_pid
  server_pid=$(head -n1 "$dir/data/mariadbd.pid" 2>/dev/null || true)
  [[ "$server_pid" =~ ^[0-9]+$ ]] || die "mariadbd wrote no pid file in $dir/data"
  echo "$server_pid" >"$dir/pid"
  # mariadb-install-db made the data folder's owner an account of the server, logged in by
  # unix socket authentication.
  local owner
  owner=$(as_owner id -un)
  as_owner mariadb --no-defaults --socket="$dir/sock/mysqld.sock" -u"$owner" <<EOF ||
CREATE DATABASE IF NOT EXISTS $database;
CREATE USER IF NOT EXISTS '$test_user'@'127.0.0.1';
GRANT ALL ON *.* TO '$test_user'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$pw_user'@'127.0.0.1' IDENTIFIED BY '$pw_secret';
GRANT ALL ON $database.* TO '$pw_user'@'127.0.0.1';
EOF
    die "could not create the test users: see $dir/mariadb.log"
  local url="mysql://$test_user@127.0.0.1:$port/$database"
  echo "$url" >"$dir/url"
  echo "$url"
}

case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  url) do_url ;;
  env) echo "export PARMAP_MARIADB_URL=$(do_url)" ;;
esac
