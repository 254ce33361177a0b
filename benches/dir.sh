#!/usr/bin/env bash
# Whole-prefix benchmark, run by hand (not a test): files per second of `ossr sync`
# up and `ossr cp -r` down, against a loop of single `ossr put` / `ossr get` calls
# (timed on the first LOOP files and given per file) and against oss2 with a thread
# pool of the same size (put_object_from_file / get_object_to_file), on the local
# server with its data on disk. Two trees: SMALL files of 4 KiB and LARGE files of
# 1 MiB. Every run's tree is compared with the source afterwards.
#
#   bash benches/dir.sh                     # 10,000 x 4 KiB and 1,000 x 1 MiB, 8 threads
#   SMALL=2000 LARGE=200 THREADS=4 bash benches/dir.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SMALL=${SMALL:-10000}
LARGE=${LARGE:-1000}
THREADS=${THREADS:-8}
LOOP=${LOOP:-200}
PY=${OSSR_PYTHON:-$PWD/.venv/bin/python}
"$PY" -c 'import oss2' || { echo "no oss2 in $PY: run .ci/run first" >&2; exit 1; }

cargo build --release -q -p ossr
OSSR=$PWD/target/release/ossr
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$OSSR" serve --listen 127.0.0.1:0 --access-key-id bench --access-key-secret bench-secret \
  --bucket bench --data "$work/data" > "$work/serve.out" 2> "$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$work/serve.out")
export OSS_ENDPOINT=$endpoint OSS_ACCESS_KEY_ID=bench OSS_ACCESS_KEY_SECRET=bench-secret OSS_SIGNATURE_VERSION=v1

cat > "$work/pool.py" <<'PY'
import os, sys, oss2
from concurrent.futures import ThreadPoolExecutor
way, threads, src, prefix, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
oss2.defaults.connection_pool_size = threads
bucket = oss2.Bucket(oss2.Auth("bench", "bench-secret"), os.environ["OSS_ENDPOINT"], "bench")
names = sorted(os.listdir(src))
def up(n): bucket.put_object_from_file(prefix + n, os.path.join(src, n))
def down(n): bucket.get_object_to_file(prefix + n, os.path.join(dst, n))
os.makedirs(dst, exist_ok=True)
with ThreadPoolExecutor(threads) as pool:
    list(pool.map(up if way == "up" else down, names))
PY

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

bench_tree() { # name count size_bytes
  local name=$1 count=$2 size=$3 src="$work/$1"
  mkdir -p "$src"
  for i in $(seq -w 1 "$count"); do head -c "$size" /dev/urandom > "$src/f$i"; done
  local t0 t1
  t0=$(now); "$OSSR" sync "$src" "oss://bench/$name/ossr/" --threads "$THREADS" --quiet > /dev/null; t1=$(now)
  local up; up=$(rate "$count" "$t0" "$t1")
  t0=$(now); "$OSSR" cp -r "oss://bench/$name/ossr/" "$work/$name-down" --threads "$THREADS" --quiet > /dev/null; t1=$(now)
  local down; down=$(rate "$count" "$t0" "$t1")
  diff -r "$src" "$work/$name-down" > /dev/null
  local loop_n=$((LOOP < count ? LOOP : count)) all files
  mapfile -t all < <(ls "$src")
  files=("${all[@]:0:$loop_n}")
  t0=$(now); for f in "${files[@]}"; do "$OSSR" put "$src/$f" "oss://bench/$name/loop/$f" --quiet > /dev/null; done; t1=$(now)
  local loop_up; loop_up=$(rate "$loop_n" "$t0" "$t1")
  mkdir -p "$work/$name-loop"
  t0=$(now); for f in "${files[@]}"; do "$OSSR" get "oss://bench/$name/loop/$f" "$work/$name-loop/$f" --quiet > /dev/null; done; t1=$(now)
  local loop_down; loop_down=$(rate "$loop_n" "$t0" "$t1")
  t0=$(now); "$PY" "$work/pool.py" up "$THREADS" "$src" "$name/oss2/" "-"; t1=$(now)
  local py_up; py_up=$(rate "$count" "$t0" "$t1")
  t0=$(now); "$PY" "$work/pool.py" down "$THREADS" "$src" "$name/oss2/" "$work/$name-oss2"; t1=$(now)
  local py_down; py_down=$(rate "$count" "$t0" "$t1")
  diff -r "$src" "$work/$name-oss2" > /dev/null
  printf '%-22s %8s %8s %10s %10s %8s %8s\n' "$count x $name" "$up" "$down" "$loop_up" "$loop_down" "$py_up" "$py_down"
  printf '%-22s %8s %8s %10s %10s %8s %8s\n' "  ratio vs ossr" "1.00" "1.00" \
    "$(awk -v a="$loop_up" -v b="$up" 'BEGIN{printf "%.2f", a/b}')" \
    "$(awk -v a="$loop_down" -v b="$down" 'BEGIN{printf "%.2f", a/b}')" \
    "$(awk -v a="$py_up" -v b="$up" 'BEGIN{printf "%.2f", a/b}')" \
    "$(awk -v a="$py_down" -v b="$down" 'BEGIN{printf "%.2f", a/b}')"
}

echo "files per second, $THREADS threads (loop: single ossr put/get per file, first $LOOP files)"
printf '%-22s %8s %8s %10s %10s %8s %8s\n' tree "sync up" "cp down" "loop put" "loop get" "oss2 up" "oss2 dn"
bench_tree 4k "$SMALL" 4096
bench_tree 1m "$LARGE" 1048576
