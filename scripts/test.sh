#!/usr/bin/env bash
# The test command of README.md (and of CI): installs what the build needs, runs every Swift
# test (unit and end-to-end against flowctl-sandbox), then the fidelity suite, in which the
# platforms' own Python clients (xnat, pyxnat, gcapi, gtagora-connector) check the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build --build-tests
swift build --product flowctl-sandbox
swift test --skip-build 2>&1 | tee .build/swift-test.log
grep -q "Test run with .* passed" .build/swift-test.log
bash Tests/Fidelity/run.sh .build/debug/flowctl-sandbox
