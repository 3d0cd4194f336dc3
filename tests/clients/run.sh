#!/usr/bin/env bash
# CTest entry: starts `retort serve` on a free loopback port with the tiny R1-vocab fixture, runs
# the official-client tests (clients.test.mjs) against it, then stops it with SIGTERM and checks
# that it exits 0. Exit 77 (a CTest skip) when node/npm are missing or the packages cannot be
# installed (no registry access).
# usage: run.sh RETORT_BINARY MODEL.gguf
set -uo pipefail
bin=${1:?usage: run.sh RETORT_BINARY MODEL.gguf}
model=${2:?usage: run.sh RETORT_BINARY MODEL.gguf}
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "$bin")
model=$(realpath "$model")

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node and npm are needed for the client tests (scripts/install-deps.sh --test installs them)"
  exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if (( major < 20 )); then
  echo "SKIP: node $(node --version) is too old for the openai/langchain packages (need >= 20)"
  exit 77
fi

cd "$here"
# Install exactly the lockfile's versions, once (again only when the lockfile changes).
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "SKIP: 'npm ci' failed in tests/clients (no registry access?)"
    exit 77
  fi
fi

key="sk-retort-test-$$"
log=$(mktemp)
"$bin" serve -m "$model" --alias tiny-r1 --port 0 --api-key "$key" --parallel 4 --ctx 256 --threads 2 2>"$log" &
pid=$!
cleanup() { kill -KILL "$pid" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT

port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$log" | head -1)
  [[ -n "$port" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "FAIL: retort serve exited"; exit 1; }
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$log"; echo "FAIL: no port in the log"; exit 1; }
url="http://127.0.0.1:$port"
if ! node -e '
  const url = process.argv[1];
  const until = Date.now() + 60000;
  (async () => {
    while (Date.now() < until) {
      try { if ((await fetch(url + "/health")).status === 200) process.exit(0); } catch {}
      await new Promise((r) => setTimeout(r, 100));
    }
    process.exit(1);
  })();' "$url"; then
  cat "$log"; echo "FAIL: /health never said ok"; exit 1
fi

RETORT_URL="$url/v1" RETORT_KEY="$key" RETORT_MODEL=tiny-r1 \
  node --test --test-concurrency=1 --test-reporter=spec clients.test.mjs
rc=$?

kill -TERM "$pid"
wait "$pid"
serve_rc=$?
echo "--- retort serve log (last lines) ---"
tail -n 15 "$log"
if (( serve_rc != 0 )); then echo "FAIL: retort serve exited $serve_rc after SIGTERM"; exit 1; fi
exit $rc
