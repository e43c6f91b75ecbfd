#!/usr/bin/env bash
# Brings up the whole platform: installs what the local infrastructure needs (when no Docker engine
# answers, or Infra=local), then runs the AppHost, which builds and starts every service.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

infra="${Infra:-auto}"
if [ "$infra" = local ] || { [ "$infra" = auto ] && ! docker info >/dev/null 2>&1; }; then
  infra/install-local-deps.sh
fi

# The bootstrap admin API key: the AppHost's admin-api-key parameter. Unless it is set, it lives in a file only this
# user can read, made once, where the CLI finds it too. The key is never printed. (The variable's name has dashes,
# so bash can neither read nor export it directly: printenv reads it, env passes it on.)
admin_key=()
if printenv Parameters__admin-api-key >/dev/null; then
  key_note="from the Parameters__admin-api-key environment variable"
else
  key_file="${XDG_CONFIG_HOME:-$HOME/.config}/assistant/admin-api-key"
  if [ ! -s "$key_file" ]; then
    mkdir -p "$(dirname "$key_file")"
    (umask 077 && printf 'asst_%s\n' "$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')" > "$key_file")
  fi
  chmod 600 "$key_file"
  admin_key=("Parameters__admin-api-key=$(tr -d '[:space:]' < "$key_file")")
  key_note="in $key_file (the CLI reads it; scripts can export ASSISTANT_API_KEY)"
fi

gateway=http://localhost:5180
dashboard=http://localhost:15080
cat <<BANNER
Starting Assistant (Infra=$infra). Once every resource is healthy:
  Gateway (API, OpenAI-compatible /v1): $gateway
  Web UI:                               $gateway/
  Aspire dashboard:                     $dashboard (use the login link printed below)
  Admin API key:                        $key_note
Stop with Ctrl+C.
BANNER

export ASPIRE_ALLOW_UNSECURED_TRANSPORT=true
exec env "${admin_key[@]}" dotnet run --project AppHost --launch-profile http
