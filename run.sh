#!/usr/bin/env bash
# Brings up the whole platform: installs what the local infrastructure needs (when no Docker engine
# answers, or Infra=local), then runs the AppHost, which builds and starts every service.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

infra="${Infra:-auto}"
if [ "$infra" = local ] || { [ "$infra" = auto ] && ! docker info >/dev/null 2>&1; }; then
  infra/install-local-deps.sh
fi

gateway=http://localhost:5180
dashboard=http://localhost:15080
cat <<BANNER
Starting Assistant (Infra=$infra). Once every resource is healthy:
  Gateway (API, OpenAI-compatible /v1): $gateway
  Web UI:                               $gateway/
  Aspire dashboard:                     $dashboard (use the login link printed below)
Stop with Ctrl+C.
BANNER

export ASPIRE_ALLOW_UNSECURED_TRANSPORT=true
exec dotnet run --project AppHost --launch-profile http
