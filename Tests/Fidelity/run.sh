#!/usr/bin/env bash
# Fidelity suite: the platforms' own Python clients against a built flowctl-sandbox.
# Usage: Tests/Fidelity/run.sh [path/to/flowctl-sandbox]   (exit 0 only if every client passed)
# Add a platform's client: drop clients/<platform>_<client>.py (reads SANDBOX_JSON) and add the
# PyPI package to requirements.txt; every clients/*.py is run.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${1:-$ROOT/.build-sandbox/debug/flowctl-sandbox}"
VENV="${FIDELITY_VENV:-$ROOT/.venv-fidelity}"
[ -x "$BIN" ] || { echo "fidelity: no sandbox binary at $BIN (swift build --scratch-path .build-sandbox --product flowctl-sandbox)"; exit 2; }

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || exit 2
fi
"$VENV/bin/pip" install -q -r "$HERE/requirements.txt" || { echo "fidelity: pip install failed"; exit 2; }

OUT="$(mktemp)"; ERR="$(mktemp)"
"$BIN" serve --seed 7 --loris-candidates 6 --tls xnat >"$OUT" 2>"$ERR" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$OUT" "$ERR"' EXIT
for _ in $(seq 1 100); do [ -s "$OUT" ] && break; sleep 0.1; done
[ -s "$OUT" ] || { echo "fidelity: sandbox did not start"; cat "$ERR"; exit 2; }
export SANDBOX_JSON="$(head -n1 "$OUT")"
export REQUESTS_CA_BUNDLE="$("$VENV/bin/python" -c 'import json,os;print(json.loads(os.environ["SANDBOX_JSON"])["caCertificate"])')"

pass=0; fail=0; failed=()
for client in "$HERE"/clients/*.py; do
  name="$(basename "$client" .py)"
  if "$VENV/bin/python" "$client" >"/tmp/fidelity-$name.log" 2>&1; then
    echo "PASS $name ($(tail -n1 "/tmp/fidelity-$name.log"))"; pass=$((pass+1))
  else
    echo "FAIL $name — log:"; sed 's/^/    /' "/tmp/fidelity-$name.log" | tail -n 30; fail=$((fail+1)); failed+=("$name")
  fi
done
echo "fidelity: $pass passed, $fail failed${failed:+ (${failed[*]})}"
[ "$fail" -eq 0 ]
