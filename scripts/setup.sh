#!/usr/bin/env bash
# Installs what decnet needs and is missing. Idempotent: a second run changes nothing.
#   scripts/setup.sh run   -> what `make run` needs: Rust targets, wasm-opt, Docker (started)
#   scripts/setup.sh test  -> the same, plus Chromium and chromedriver for the browser tests and
#                             the client tools (nmap, smbclient, ldapsearch, ...) of the capture tests
set -euo pipefail
mode="${1:-run}"

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }

if ! have cargo; then
  echo "setup: cargo not found; install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in wasm32-unknown-unknown x86_64-unknown-linux-musl; do
  grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done

# wasm-opt for the release bundle: npm's binaryen 132 (Debian's 108 breaks hydration).
if [ ! -x .tools/node_modules/.bin/wasm-opt ]; then
  if have npm; then
    npm install --silent --no-audit --no-fund --prefix .tools binaryen@132.0.0 >/dev/null 2>&1 \
      || echo "setup: binaryen install failed; the WASM bundle will be built without wasm-opt" >&2
  else
    echo "setup: npm not found; the WASM bundle will be built without wasm-opt" >&2
  fi
fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
# Docker runs the deckies (both modes); Chromium drives the browser tests (test mode).
have dockerd || need_apt+=(docker.io)
if [ "$mode" = test ]; then
  have chromium || need_apt+=(chromium)
  have chromedriver || need_apt+=(chromium-driver)
  # Real attacker tools the capture tests point at deckies (and nmap for fingerprints).
  for pkg in nmap curl smbclient ldap-utils freetds-bin snmp sipsak tftp-hpa bind9-dnsutils postgresql; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null; }; then
    [ "$mode" = test ] && { echo "setup: could not install ${need_apt[*]}" >&2; exit 1; }
    echo "setup: could not install ${need_apt[*]}; deploys need Docker" >&2
  fi
fi
if have dockerd && ! docker version >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  $SUDO sh -c 'setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &'
  for _ in $(seq 1 60); do
    docker version >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker version >/dev/null 2>&1; then
    [ "$mode" = test ] && { echo "setup: dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; }
    echo "setup: dockerd did not come up; deploys will fail until it does" >&2
  fi
fi

# PostgreSQL for the API suite's second run (`make test`): a local cluster, a test role that
# may create databases, and no databases left from earlier runs.
if [ "$mode" = test ]; then
  cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1" "$2}')
  if [ -z "$cluster" ]; then
    echo "setup: no PostgreSQL cluster (pg_lsclusters)" >&2; exit 1
  fi
  # shellcheck disable=SC2086
  $SUDO pg_ctlcluster $cluster start 2>/dev/null || true
  pg() { $SUDO su postgres -c "psql -qAt -c \"$1\"" ; }
  for _ in $(seq 1 40); do pg "select 1" >/dev/null 2>&1 && break; sleep 0.25; done
  pg "select 1 from pg_roles where rolname = 'decnet_test'" | grep -q 1 \
    || pg "create role decnet_test login createdb password 'decnet-test'"
  for db in $(pg "select datname from pg_database where datname like 'decnet_test_%'"); do
    pg "drop database $db" >/dev/null
  done
fi
