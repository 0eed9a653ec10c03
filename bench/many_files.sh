#!/usr/bin/env bash
# Peak memory of backup and verify for 200,000 small files (the issue's bound: 200 MB whatever
# the number of files up to 200,000). Generates its input once under target/bench-data/many/.
# Usage: bench/many_files.sh [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
data=target/bench-data/many/in-$n
work=target/bench-data/many
cargo build --release --quiet
bin=target/release/qqvault
if [ ! -d "$data" ]; then
  python3 - "$data" "$n" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"d{i // 500:04d}")
    if i % 500 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"文件{i:06d}.txt"), "wb") as f:
        f.write((f"第{i}个文件 " * rng.randint(20, 200)).encode())
PY
fi
rm -f "$work/many.zip"
/usr/bin/time -f "%e %M" -o "$work/backup.time" "$bin" backup "$data" -o "$work/many.zip" >/dev/null
/usr/bin/time -f "%e %M" -o "$work/verify.time" "$bin" verify "$work/many.zip" >/dev/null
read -r bs bm <"$work/backup.time"
read -r vs vm <"$work/verify.time"
echo "| step | files | wall | peak RSS (target 200 MB) |"
echo "|---|---|---|---|"
echo "| backup | $n | ${bs} s | $((bm / 1024)) MB |"
echo "| verify | $n | ${vs} s | $((vm / 1024)) MB |"
