#!/usr/bin/env bash
# Upload benchmark, run by hand (not a test): `ossr put` at 1, 4 and 8 threads on a
# 1 GiB file against the local server, side by side with the official Python SDK's
# `oss2.resumable_upload` with the same threads and part size (8 MiB). Prints
# throughput, ratios against ossr at 4 threads, client CPU seconds (user + system)
# per GiB, and peak RSS; checks every object's CRC-64 against the file's.
#
#   bash benches/upload.sh     # needs the venv of .ci/run (oss2) and GNU time
#   SIZE_MIB=256 bash benches/upload.sh
#   OSSR_BEFORE=/path/to/older/ossr bash benches/upload.sh   # adds "before put xN" rows
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-1024}
PY=${OSSR_PYTHON:-$PWD/.venv/bin/python}
"$PY" -c 'import oss2' || { echo "no oss2 in $PY: run .ci/run first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "missing GNU time (apt-get install time)" >&2; exit 1; }

cargo build --release -q -p ossr
OSSR=$PWD/target/release/ossr
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

head -c $((SIZE_MIB << 20)) /dev/urandom > "$work/src.bin"
"$OSSR" serve --listen 127.0.0.1:0 --access-key-id bench --access-key-secret bench-secret \
  --bucket bench --data "$work/data" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$work/serve.out")
export OSS_ENDPOINT=$endpoint OSS_ACCESS_KEY_ID=bench OSS_ACCESS_KEY_SECRET=bench-secret OSS_SIGNATURE_VERSION=v1

cat > "$work/oss2_upload.py" <<'PY'
import os, sys, oss2
threads, path, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bucket = oss2.Bucket(oss2.Auth("bench", "bench-secret"), os.environ["OSS_ENDPOINT"], "bench")
oss2.resumable_upload(bucket, "oss2.bin", path, store=oss2.ResumableStore(root=root),
                      multipart_threshold=8 << 20, part_size=8 << 20, num_threads=threads)
PY

file_crc=$("$PY" -c 'import sys; from oss2 import utils; c=utils.Crc64(0); f=open(sys.argv[1],"rb")
while True:
    b=f.read(1<<20)
    if not b: break
    c.update(b)
print(c.crc)' "$work/src.bin")

declare -A secs rss cpu
run() { # label key command...
  local label=$1 key=$2; shift 2
  /usr/bin/time -f '%e %M %U %S' -o "$work/time.out" "$@" > /dev/null 2> "$work/cmd.err" || {
    echo "FAILED: $*" >&2; cat "$work/cmd.err" >&2; exit 1; }
  local t m u k
  read -r t m u k < "$work/time.out"
  secs[$label]=$t
  rss[$label]=$m
  cpu[$label]=$(awk -v u="$u" -v k="$k" -v m="$SIZE_MIB" 'BEGIN { printf "%.2f", (u + k) * 1024 / m }')
  local crc
  crc=$("$OSSR" stat "oss://bench/$key" | sed -n 's/^crc64: //p')
  [ "$crc" = "$file_crc" ] || { echo "WRONG CRC for $label: $crc vs $file_crc" >&2; exit 1; }
}

for n in 1 4 8; do
  run "ossr put x$n" ossr.bin "$OSSR" put "$work/src.bin" oss://bench/ossr.bin --threads "$n" \
    --part-size 8M --checkpoint-dir "$work/ckpt"
  if [ -n "${OSSR_BEFORE:-}" ]; then
    run "before put x$n" before.bin "$OSSR_BEFORE" put "$work/src.bin" oss://bench/before.bin \
      --threads "$n" --part-size 8M --checkpoint-dir "$work/ckpt-before"
  fi
  run "oss2 resumable_upload x$n" oss2.bin "$PY" "$work/oss2_upload.py" "$n" "$work/src.bin" "$work/store"
done

base=${secs["ossr put x4"]}
printf '\nupload of %d MiB to the local server, 8 MiB parts\n' "$SIZE_MIB"
printf '  %-28s %9s %10s %14s %12s %12s\n' tool seconds MiB/s "ossr-x4/this" "CPU s/GiB" "peak RSS"
for n in 1 4 8; do
  for tool in "ossr put x$n" "before put x$n" "oss2 resumable_upload x$n"; do
    [ -n "${secs[$tool]:-}" ] || continue
    awk -v t="$tool" -v s="${secs[$tool]}" -v b="$base" -v m="$SIZE_MIB" -v r="${rss[$tool]}" \
      -v c="${cpu[$tool]}" \
      'BEGIN { printf "  %-28s %9.2f %10.0f %13.2fx %12.2f %9.1f MiB\n", t, s, m / s, s / b, c, r / 1024 }'
  done
done
