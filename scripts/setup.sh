#!/usr/bin/env bash
# Installs what parmap needs to build and test, from Debian's packages, when it is missing.
set -euo pipefail

packages=(g++ cmake ninja-build pkg-config libsqlite3-dev sqlite3 libcli11-dev libfmt-dev
          libspdlog-dev nlohmann-json3-dev libyaml-cpp-dev libgtest-dev time libpq-dev
          postgresql postgresql-client openssl libmariadb-dev mariadb-server mariadb-client
          pybind11-dev python3-dev python3-pybind11 python3-pytest python3-psycopg2 python3-psycopg
          python3-pymysql python3-numpy unixodbc-dev
          odbc-postgresql odbc-mariadb libsqliteodbc tmux chromium openmpi-bin libopenmpi-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
