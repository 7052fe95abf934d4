#!/usr/bin/env bash
# Schemathesis over every operation of the gateway's OpenAPI, once per demo role, against
# a real `ledger-gw serve --demo` on a throwaway directory: no 5xx, no answer outside its
# schema. Bounded: MAX_EXAMPLES per operation, FUZZ_SECONDS per role.
set -euo pipefail
BIN="${BIN:-.venv/bin}"
PORT="${FUZZ_PORT:-8095}"
MAX_EXAMPLES="${MAX_EXAMPLES:-15}"
SECONDS_PER_ROLE="${FUZZ_SECONDS:-150}"
dir="$(mktemp -d)"
"$BIN/ledger-gw" serve --demo --dir "$dir/demo" --port "$PORT" >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 1
done
status=0
for role in AGENCY-A/agency-writer AGENCY-A/agency-reader AGENCY-A/admin AUDITOR-X/auditor DONOR-Y/donor; do
  token="$("$BIN/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$dir/demo/demo-tokens.json" "$role")"
  echo "== $role"
  timeout "$SECONDS_PER_ROLE" "$BIN/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
    -H "Authorization: Bearer $token" -c not_a_server_error,response_schema_conformance \
    -n "$MAX_EXAMPLES" --request-timeout 10 --no-color || status=1
done
exit "$status"
