#!/usr/bin/env bash
# Download benchmark, run by hand (not a test): `ossr get` at 1, 4 and 8 threads,
# under both durability policies, side by side with a bare parallel range-GET +
# pwrite loop (benches/bare_get.rs; without sync, and with fdatasync after each
# part), curl (one stream) and aria2c -x4 / -x8, fetching the same 1 GiB object from
# the bundled local server and, when nginx is installed, from nginx serving the same
# file (so the server's own cost is visible). Every tool runs once per round (ROUNDS,
# default 3), each run from a settled page cache (see settle_cache). Prints the best
# time, peak RSS and the ratios that matter, each the median of the rounds' ratios
# with their range: default ossr against the syncing bare loop, `--no-fsync`
# against the non-syncing one and against aria2c -x4. Neither curl nor aria2c syncs.
#
#   bash benches/download.sh            # needs curl, aria2c, GNU time; nginx optional
#   OSSR_BEFORE=/path/to/older/ossr bash benches/download.sh   # adds "before xN" rows
#   SIZE_MIB=256 bash benches/download.sh
#   THREADS=1 ROUNDS=5 bash benches/download.sh   # only these thread counts
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-1024}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1 4 8}
for tool in curl aria2c /usr/bin/time openssl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install curl aria2 time openssl)" >&2; exit 1; }
done

cargo build --release -q -p ossr
OSSR=$PWD/target/release/ossr
BARE=$(cargo bench --bench bare_get --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
[ -x "$BARE" ] || { echo "could not build benches/bare_get.rs" >&2; exit 1; }
work=$(mktemp -d)
server_pid=""; nginx_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "creating a ${SIZE_MIB} MiB object..."
head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/src.bin"

"$OSSR" serve --listen 127.0.0.1:0 --access-key-id bench --access-key-secret bench-secret \
  --bucket bench --data "$work/data" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$work/serve.out")
[ -n "$endpoint" ] || { echo "the server did not start" >&2; cat "$work/serve.err" >&2; exit 1; }

# Upload with a V1-signed PUT (curl), then presign a GET for curl and aria2c.
sign() { printf '%b' "$1" | openssl dgst -sha1 -hmac bench-secret -binary | base64; }
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
date_hdr=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
sig=$(sign "PUT\n\napplication/octet-stream\n${date_hdr}\n/bench/object.bin")
curl -sf -T "$work/src.bin" -H "Date: $date_hdr" -H "Content-Type: application/octet-stream" \
  -H "Authorization: OSS bench:$sig" "$endpoint/bench/object.bin" -o /dev/null
expires=$(( $(date +%s) + 7200 ))
sig=$(urlencode "$(sign "GET\n\n\n${expires}\n/bench/object.bin")")
signed_url="$endpoint/bench/object.bin?OSSAccessKeyId=bench&Expires=$expires&Signature=$sig"

if command -v nginx >/dev/null; then
  mkdir -p "$work/www/bench" "$work/nginx"
  ln "$work/src.bin" "$work/www/bench/object.bin"
  # nginx's workers run as an unprivileged user.
  chmod 755 "$work" "$work/www" "$work/www/bench"
  chmod 644 "$work/src.bin"
  nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$nginx_port; root $work/www; }
}
EOF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
  nginx_pid=$!
  sleep 0.5
fi

# Before each run: the last output removed and the dirty pages written back, so one
# run's writeback does not land in the next; where this user may (root), the page
# cache is also dropped and the served object read back in, so every run starts from
# the same cache.
settle_cache() {
  rm -f "$work/out.bin"
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 3 > /proc/sys/vm/drop_caches
    find "$work/src.bin" "$work/data" -type f -exec cat {} + > /dev/null
  fi
}

# measure COMMAND... -- runs one tool once; prints "secs rss_kib"
measure() {
  settle_cache
  /usr/bin/time -f '%e %M' -o "$work/time.out" "$@" > /dev/null 2> "$work/cmd.err" || {
    echo "FAILED: $*" >&2; cat "$work/cmd.err" >&2; return 1; }
  cmp -s "$work/out.bin" "$work/src.bin" || { echo "WRONG BYTES: $*" >&2; return 1; }
  cat "$work/time.out"
}

# Every tool runs once per round, rounds one after another, so a slow spell of the
# machine hits all tools alike; a ratio is the median of the per-round ratios.
declare -A best_secs best_rss all_secs
bench() { # label command...
  local label=$1; shift
  local secs rss
  read -r secs rss < <(measure "$@")
  all_secs[$label]="${all_secs[$label]:-} $secs"
  if [ -z "${best_secs[$label]:-}" ] || awk "BEGIN{exit !($secs < ${best_secs[$label]})}"; then
    best_secs[$label]=$secs; best_rss[$label]=$rss
  fi
}

mibs() { awk -v s="$1" -v m="$SIZE_MIB" 'BEGIN { printf "%.0f", m / s }'; }
ratio() { # label-a label-b: throughput of a over b, the median over the rounds
  awk -v a="${all_secs[$1]}" -v b="${all_secs[$2]}" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) r[i] = y[i] / x[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
    m = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    printf "%.2fx (%.2f-%.2f)", m, r[1], r[n] }'
}

report() { # server-label
  printf '\n%s, %d MiB, %d rounds: best time, peak RSS of that run\n' "$1" "$SIZE_MIB" "$ROUNDS"
  printf '  %-24s %9s %10s %12s\n' tool seconds MiB/s "peak RSS"
  for tool in "ossr x1" "ossr x4" "ossr x8" "before x1" "before x4" "before x8" \
    "ossr --no-fsync x1" "ossr --no-fsync x4" \
    "ossr --no-fsync x8" "bare sync x1" "bare sync x4" "bare sync x8" "bare x1" "bare x4" \
    "bare x8" "curl" "aria2c -x4" "aria2c -x8"; do
    local key="$1 $tool"
    [ -n "${best_secs[$key]:-}" ] || continue
    awk -v t="$tool" -v s="${best_secs[$key]}" -v m="$SIZE_MIB" -v r="${best_rss[$key]}" \
      'BEGIN { printf "  %-24s %9.2f %10.0f %9.1f MiB\n", t, s, m / s, r / 1024 }'
  done
  printf '  ratios (throughput of the first over the second; median of the rounds, range):\n'
  for n in $THREADS; do
    printf '    ossr x%s / bare sync x%s: %s    ossr --no-fsync x%s / bare x%s: %s\n' \
      "$n" "$n" "$(ratio "$1 ossr x$n" "$1 bare sync x$n")" \
      "$n" "$n" "$(ratio "$1 ossr --no-fsync x$n" "$1 bare x$n")"
  done
  if [ -n "${OSSR_BEFORE:-}" ]; then
    for n in $THREADS; do
      printf '    ossr x%s / before x%s: %s\n' "$n" "$n" "$(ratio "$1 ossr x$n" "$1 before x$n")"
    done
  fi
  if [ -n "${best_secs[$1 ossr x4]:-}" ]; then
    printf '    ossr --no-fsync x4 / aria2c -x4: %s    ossr x4 / curl: %s\n' \
      "$(ratio "$1 ossr --no-fsync x4" "$1 aria2c -x4")" "$(ratio "$1 ossr x4" "$1 curl")"
  fi
}

ossr_env=(env OSS_ACCESS_KEY_ID=bench OSS_ACCESS_KEY_SECRET=bench-secret OSS_SIGNATURE_VERSION=v1)
run_all() { # label ossr-endpoint tool-url
  local label=$1 ep=$2 url=$3
  local size=$((SIZE_MIB << 20))
  for _ in $(seq "$ROUNDS"); do
    for n in $THREADS; do
      bench "$label ossr x$n" "${ossr_env[@]}" OSS_ENDPOINT="$ep" "$OSSR" get oss://bench/object.bin \
        "$work/out.bin" --threads "$n" --checkpoint-dir "$work/ckpt"
      bench "$label ossr --no-fsync x$n" "${ossr_env[@]}" OSS_ENDPOINT="$ep" "$OSSR" get \
        oss://bench/object.bin "$work/out.bin" --threads "$n" --checkpoint-dir "$work/ckpt" --no-fsync
      if [ -n "${OSSR_BEFORE:-}" ]; then
        bench "$label before x$n" "${ossr_env[@]}" OSS_ENDPOINT="$ep" "$OSSR_BEFORE" get \
          oss://bench/object.bin "$work/out.bin" --threads "$n" --checkpoint-dir "$work/ckpt"
      fi
      bench "$label bare sync x$n" "$BARE" "$url" "$size" "$work/out.bin" --threads "$n" --sync
      bench "$label bare x$n" "$BARE" "$url" "$size" "$work/out.bin" --threads "$n"
    done
    bench "$label curl" curl -sf -o "$work/out.bin" "$url"
    for n in 4 8; do
      bench "$label aria2c -x$n" aria2c -q -x "$n" -s "$n" -k 8M --file-allocation=none \
        --allow-overwrite=true -d "$work" -o out.bin "$url"
    done
  done
  report "$label"
}

run_all "local server" "$endpoint" "$signed_url"
if [ -n "$nginx_pid" ]; then
  run_all "nginx" "http://127.0.0.1:$nginx_port" "http://127.0.0.1:$nginx_port/bench/object.bin"
fi
