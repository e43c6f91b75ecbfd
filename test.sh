#!/usr/bin/env bash
# Runs the whole test suite: installs the local servers the tests start (through the AppHost),
# builds the solution, and runs every test project, writing TRX results to TestResults/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! docker info >/dev/null 2>&1 || [ "${ASSISTANT_TEST_INFRA:-auto}" = local ]; then
  infra/install-local-deps.sh
fi

dotnet build Assistant.sln -nologo -clp:ErrorsOnly
# One test project at a time: the end-to-end tests start whole platforms and the model tests use both cores.
dotnet test --solution Assistant.sln --no-build --max-parallel-test-modules 1 \
  --report-trx --results-directory "$PWD/TestResults" "$@"
