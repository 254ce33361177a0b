#!/usr/bin/env bash
# Copy benchmark, run by hand (not a test): `ossr cp` of one object on the server
# (Client::copy: one CopyObject below the 1 GiB threshold, UploadPartCopy parts of
# 64 MiB above it) against `ossr cp --through-client` (the bytes come down to this
# machine and go back up), on the bundled local server (objects on disk). Prints, for
# each, the best time of ROUNDS runs and the bytes that crossed the client's
# connections (the server's counters: response bodies sent plus request bodies
# received), then the ratios through-client / server-side. Every copy's CRC-64 is
# checked against the source's.
#
#   bash benches/copy.sh                # a 4 GiB object (needs ~13 GiB of disk)
#   SIZE_MIB=1024 ROUNDS=2 bash benches/copy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-4096}
ROUNDS=${ROUNDS:-1}
for tool in curl python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install curl python3 time)" >&2; exit 1; }
done

cargo build --release -q -p ossr
OSSR=$PWD/target/release/ossr
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

out=$("$OSSR" serve --background --listen 127.0.0.1:0 --access-key-id bench \
  --access-key-secret bench-secret --bucket bench --data "$work/data")
endpoint=$(printf '%s\n' "$out" | sed -n 's/^listening on //p')
server_pid=$(printf '%s\n' "$out" | sed -n '2s/^pid \([0-9]*\).*/\1/p')
[ -n "$endpoint" ] && [ -n "$server_pid" ] || { echo "the server did not start: $out" >&2; exit 1; }
export OSS_ENDPOINT=$endpoint OSS_ACCESS_KEY_ID=bench OSS_ACCESS_KEY_SECRET=bench-secret
export OSS_REGION=cn-hangzhou

echo "creating and uploading a ${SIZE_MIB} MiB object..."
head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/src.bin"
"$OSSR" put --quiet --threads 4 "$work/src.bin" oss://bench/src.bin > /dev/null
rm -f "$work/src.bin"
crc_of() { "$OSSR" stat --json "oss://bench/$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["crc64"])'; }
source_crc=$(crc_of src.bin)

# The bytes through the client since the last reset: bodies sent plus received.
reset_stats() { curl -sf -X DELETE "$endpoint/_ossr/stats" > /dev/null; }
client_bytes() {
  curl -sf "$endpoint/_ossr/stats" |
    python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["bytes_served"] + s["bytes_received"])'
}

declare -A best_secs best_bytes best_rss
bench() { # label ossr-cp-arguments...
  local label=$1; shift
  local secs rss bytes
  for round in $(seq "$ROUNDS"); do
    reset_stats
    /usr/bin/time -f '%e %M' -o "$work/time.out" "$OSSR" cp --quiet "$@" oss://bench/src.bin \
      "oss://bench/copy-$round.bin" > "$work/cp.out" 2> "$work/cp.err" || {
      echo "FAILED: ossr cp $*" >&2; cat "$work/cp.err" >&2; exit 1; }
    read -r secs rss < "$work/time.out"
    bytes=$(client_bytes)
    [ "$(crc_of "copy-$round.bin")" = "$source_crc" ] || { echo "WRONG CRC-64: $label" >&2; exit 1; }
    "$OSSR" rm "oss://bench/copy-$round.bin" > /dev/null
    if [ -z "${best_secs[$label]:-}" ] || awk "BEGIN{exit !($secs < ${best_secs[$label]})}"; then
      best_secs[$label]=$secs; best_bytes[$label]=$bytes; best_rss[$label]=$rss
    fi
  done
  printf '  %s: %s\n' "$label" "$(cat "$work/cp.out")"
}

echo "copying (best of $ROUNDS):"
bench "server-side"
bench "through-client" --through-client

printf '\nossr cp of a %d MiB object on the local server, best of %d\n' "$SIZE_MIB" "$ROUNDS"
printf '  %-16s %9s %9s %22s %12s\n' path seconds MiB/s "bytes through client" "peak RSS"
for label in server-side through-client; do
  printf '  %-16s %9.2f %9.0f %22d %9d KiB\n' "$label" "${best_secs[$label]}" \
    "$(awk -v s="${best_secs[$label]}" -v m="$SIZE_MIB" 'BEGIN { print m / s }')" \
    "${best_bytes[$label]}" "${best_rss[$label]}"
done
awk -v a="${best_secs[server-side]}" -v b="${best_secs[through-client]}" \
  'BEGIN { printf "  time: through-client / server-side = %.1fx\n", b / a }'
awk -v a="${best_bytes[server-side]}" -v b="${best_bytes[through-client]}" -v m="$SIZE_MIB" \
  'BEGIN { if (a == 0) printf "  bytes through the client: server-side 0, through-client %.2fx the object\n", b / (m * 1048576);
           else printf "  bytes through the client: through-client / server-side = %.0fx\n", b / a }'
