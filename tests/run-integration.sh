#!/usr/bin/env bash
# Build the Rust fixtures, then run the integration tests against $RSPROBE.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export RSPROBE_FIXTURES=${RSPROBE_FIXTURES:-$here/../.output/fixtures}
if [ -z "${RSPROBE_NO_BUILD:-}" ]; then
	bash "$here/build-fixtures.sh" "$RSPROBE_FIXTURES"
fi
exec python3 "$here/integration.py" "$@"
