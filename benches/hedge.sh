#!/usr/bin/env bash
# Hedging benchmark, run by hand (not a test): `ossr get` of a 256 MiB object at 4
# threads (default part size, 8 MiB) from the local server while 1 GET in 20 is
# held back 5 s before its first byte (the server's seeded delay fault, the same
# requests every run), with hedging on (the default) and off (--no-hedge). Prints
# the time, the parts hedged, the bytes the server sent and the GETs it answered, as
# ratios of hedging on to off; checks every file against the object.
#
#   bash benches/hedge.sh
#   SIZE_MIB=512 DELAY_MS=3000 RUNS=3 bash benches/hedge.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-256}
DELAY_MS=${DELAY_MS:-5000}
RATE=${RATE:-0.05}
SEED=${SEED:-0}
RUNS=${RUNS:-2}
command -v curl > /dev/null || { echo "missing curl" >&2; exit 1; }

cargo build --release -q -p ossr
OSSR=$PWD/target/release/ossr
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/src.bin"
"$OSSR" serve --listen 127.0.0.1:0 --access-key-id bench --access-key-secret bench-secret \
  --bucket bench > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$work/serve.out")
export OSS_ENDPOINT=$endpoint OSS_ACCESS_KEY_ID=bench OSS_ACCESS_KEY_SECRET=bench-secret OSS_SIGNATURE_VERSION=v1
"$OSSR" put "$work/src.bin" oss://bench/obj --quiet > /dev/null

json_num() { # name, from stdin: the first number after "name":
  grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2
}

declare -A secs sent gets hedged
run() { # label, extra ossr get flags...
  local label=$1; shift
  local best=""
  for _ in $(seq "$RUNS"); do
    rm -f "$work/out.bin"
    # The same requests are held back every run: the draw restarts from the seed.
    curl -fsS -X POST "$endpoint/_ossr/faults?delay_ops=GetObject&delay_ms=$DELAY_MS&delay_rate=$RATE&delay_seed=$SEED" > /dev/null
    curl -fsS -X DELETE "$endpoint/_ossr/stats" > /dev/null
    local start end line
    start=$(date +%s.%N)
    line=$("$OSSR" get oss://bench/obj "$work/out.bin" --threads 4 --no-fsync --quiet "$@")
    end=$(date +%s.%N)
    cmp -s "$work/src.bin" "$work/out.bin" || { echo "FAILED: $label: the file differs" >&2; exit 1; }
    # Answers the server still holds back (dropped losers) end within DELAY_MS.
    sleep "$(awk -v d="$DELAY_MS" 'BEGIN { print d / 1000 + 0.5 }')"
    local stats t
    stats=$(curl -fsS "$endpoint/_ossr/stats")
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    if [ -z "$best" ] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then
      best=$t
      secs[$label]=$t
      sent[$label]=$(echo "$stats" | json_num bytes_served)
      gets[$label]=$(echo "$stats" | grep -o '"GetObject":{[^}]*}' | grep -o ':[0-9][0-9]*' | tr -d : | awk '{ s += $1 } END { print s }')
      hedged[$label]=$(echo "$line" | sed -n 's/.* \([0-9]*\) parts hedged.*/\1/p')
    fi
  done
}

run on
run off --no-hedge
curl -fsS -X DELETE "$endpoint/_ossr/faults" > /dev/null

echo
echo "ossr get, ${SIZE_MIB} MiB at 4 threads, 1 GET in $(awk -v r="$RATE" 'BEGIN { printf "%g", 1 / r }') held back ${DELAY_MS} ms (seed $SEED); best of $RUNS"
printf "%-12s %10s %8s %16s %10s\n" hedging seconds hedged "bytes sent" "GETs"
for label in on off; do
  printf "%-12s %10s %8s %16s %10s\n" "$label" "${secs[$label]}" "${hedged[$label]}" "${sent[$label]}" "${gets[$label]}"
done
awk -v a="${secs[on]}" -v b="${secs[off]}" -v c="${sent[on]}" -v d="${sent[off]}" 'BEGIN {
  printf "on/off: time %.2f, bytes sent %.3f\n", a / b, c / d }'
