#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance) against `tables-mcp --transport http`.
#
# Usage: scripts/conformance.sh [TABLES_MCP_COMMAND]   (default: .venv/bin/tables-mcp)
#
# Serves streamable HTTP on a free loopback port, on a throw-away SQLite store holding one table, with no token
# and no other TABLES_MCP_* setting, then runs each of the suite's server scenarios except those that
# tests/conformance_expected.md lists as not applying (with the reason). Each scenario run must pass at least one
# check and fail none. Exits 1 if one does not, or if that list names a scenario the suite does not have.
# The suite needs Node >= 22: when the machine's node is older, node@22 comes from npm into the same temp prefix.
set -euo pipefail
cd "$(dirname "$0")/.."

suite_version=0.1.16
tables_mcp=$(realpath "${1:-.venv/bin/tables-mcp}")
skipped_doc=tests/conformance_expected.md

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The scenarios that do not apply: the first column of the doc's table rows, "| `name` | reason |".
declare -A not_applicable=()
while IFS=$'\t' read -r name reason; do
  not_applicable[$name]=$reason
done < <(
  # shellcheck disable=SC2016  # the backticks are the doc's, not a command substitution
  sed -n 's/^| `\([a-z0-9-]*\)` | \(.*\) |$/\1\t\2/p' "$skipped_doc"
)
[ "${#not_applicable[@]}" -gt 0 ] || { echo "no scenarios found in $skipped_doc" >&2; exit 1; }

packages=("@modelcontextprotocol/conformance@$suite_version")
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 22 ]; then packages+=("node@22"); fi
npm install --silent --no-audit --no-fund --prefix "$work" "${packages[@]}" >/dev/null
node_bin=node
if [ -x "$work/node_modules/.bin/node" ]; then node_bin="$work/node_modules/.bin/node"; fi
conformance=("$node_bin" "$work/node_modules/@modelcontextprotocol/conformance/dist/index.js")
echo "MCP conformance suite $suite_version on Node $("$node_bin" --version)"

# The scenario list, as a set. (Not `printf | grep -q` under pipefail: grep quits at its first match, printf can
# then die of SIGPIPE, and the pipeline fails although the name is there. That race failed two CI runs.)
listing=$("${conformance[@]}" list --server) || { echo "conformance list --server failed" >&2; exit 1; }
mapfile -t scenarios < <(printf '%s\n' "$listing" | sed -n 's/^  - \([a-z0-9-]*\).*/\1/p')
[ "${#scenarios[@]}" -gt 0 ] || { echo "the conformance suite listed no server scenarios" >&2; exit 1; }
declare -A listed=()
for name in "${scenarios[@]}"; do listed[$name]=1; done
for name in "${!not_applicable[@]}"; do
  if [ -z "${listed[$name]+set}" ]; then
    echo "$skipped_doc lists '$name', which conformance $suite_version does not have" >&2
    exit 1
  fi
done

# One table, so tools/list holds a typed per-table tool beside the generic ones.
db="$work/conformance.db"
table='{"name": "Tasks", "columns": [{"name": "Title", "type": "TEXT", "required": true},
  {"name": "Status", "type": "SELECT", "options": ["Todo", "Done"]}, {"name": "Due", "type": "DATE"},
  {"name": "Points", "type": "NUMBER"}, {"name": "Owner", "type": "EMAIL"}]}'
mapfile -t own_settings < <(env | sed -n 's/^\(TABLES_MCP_[A-Za-z0-9_]*\)=.*/-u\n\1/p')
env "${own_settings[@]}" TABLES_MCP_DB="$db" "$tables_mcp" call createTable "$table" >/dev/null

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env "${own_settings[@]}" TABLES_MCP_DB="$db" "$tables_mcp" --transport http --host 127.0.0.1 --port "$port" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 150); do
  if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "tables-mcp --transport http exited before it answered /healthz:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "no /healthz answer in 30 s" >&2; exit 1; }

passed=0
failed=()
for name in "${scenarios[@]}"; do
  if [ -n "${not_applicable[$name]+set}" ]; then
    echo "  n/a  $name: ${not_applicable[$name]}"
    continue
  fi
  log="$work/$name.log"
  status=0
  (cd "$work" && "${conformance[@]}" server --url "http://127.0.0.1:$port/mcp" --scenario "$name" \
    -o "$work/results") >"$log" 2>&1 || status=$?
  checks_passed=$(sed -n 's/^Passed: \([0-9]*\)\/[0-9]*, 0 failed.*/\1/p' "$log")
  if [ "$status" -eq 0 ] && [ "${checks_passed:-0}" -gt 0 ]; then
    echo "  pass $name ($(grep '^Passed: ' "$log"))"
    passed=$((passed + 1))
  else
    echo "  FAIL $name (exit $status):"
    sed 's/^/       /' "$log"
    failed+=("$name")
  fi
done

echo "MCP conformance: ${passed} scenarios passed, ${#failed[@]} failed, ${#not_applicable[@]} not applicable" \
  "($skipped_doc)"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "failed: ${failed[*]}; tables-mcp's log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
