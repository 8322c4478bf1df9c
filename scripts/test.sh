#!/usr/bin/env bash
# The test command of README.md (and of CI): installs what the build needs, runs every Swift
# test (unit and end-to-end against flowctl-sandbox), then the fidelity suite, in which the
# platforms' own Python clients (xnat, pyxnat, gcapi, gtagora-connector) check the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
swift build --build-tests
swift build --product flowctl-sandbox
# The BIDS end-to-end tests check datasets with the official validator and pybids: a venv made
# once (like the fidelity suite's) and found through FLOWCTL_BIDS_VENV.
export FLOWCTL_BIDS_VENV="${FLOWCTL_BIDS_VENV:-$PWD/.venv-bids}"
if [ ! -x "$FLOWCTL_BIDS_VENV/bin/bids-validator-deno" ] || [ ! -x "$FLOWCTL_BIDS_VENV/bin/python" ] \
    || ! "$FLOWCTL_BIDS_VENV/bin/python" -c "import bids" 2>/dev/null; then
    python3 -m venv "$FLOWCTL_BIDS_VENV"
    "$FLOWCTL_BIDS_VENV/bin/pip" install -q -r scripts/bids-requirements.txt
fi
swift test --skip-build 2>&1 | tee .build/swift-test.log
grep -q "Test run with .* passed" .build/swift-test.log
bash Tests/Fidelity/run.sh .build/debug/flowctl-sandbox
