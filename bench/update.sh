#!/usr/bin/env bash
# Update and resume against a full backup, on the set of bench/backup.sh (generated here when
# it is missing): a 52 MB export of a new conversation added with --update, and a backup killed
# when its partial file reaches half the archive's size, then run again.
# Usage: bench/update.sh [DIR]
# ROUNDS=N (default 1) repeats the four steps N times and adds the median of each column: on a
# shared machine one round's figures can move by a fifth from one run to the next.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-target/bench-data/backup}
work=target/bench-data/update
new=target/bench-data/update-new
cargo build --release --quiet
bin=target/release/qqvault
[ -d "$data" ] || python3 bench/gen_backup_input.py "$data" 1
if [ ! -d "$new" ]; then
  mkdir -p "$new"
  tmp=$(mktemp -d)
  python3 bench/gen_chat_input.py "$tmp" 520000 0 0 >/dev/null
  # Another conversation than the one the set holds.
  python3 - "$tmp/chat-utf8bom.txt" "$new/新导出.txt" <<'PY'
import sys
data = open(sys.argv[1], "rb").read().replace("消息对象:测试群".encode(), "消息对象:新的群".encode(), 1)
open(sys.argv[2], "wb").write(data)
PY
  rm -rf "$tmp"
fi
mkdir -p "$work"
# What the step before wrote (a copy of gigabytes, say) is on disk before each timed step, so
# that its write-behind does not fall into the step's time; and every step reads from the disk,
# as a user's run would: the inputs and archives are dropped from the page cache first (what one
# step left there would otherwise speed up the next one by chance: full backups of this set took
# 19 s with their inputs cached and 22 to 27 s without).
evict() {
  python3 - "$data" "$new" "$work" <<'PY'
import os, sys
if not hasattr(os, "posix_fadvise"):
    sys.exit(0)  # not on this system: the steps then read what the cache holds
for top in sys.argv[1:]:
    for root, _, names in os.walk(top):
        for n in names:
            try:
                fd = os.open(os.path.join(root, n), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
PY
}
secs() { sync; evict; /usr/bin/time -f "%e" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; cat "$work/t"; }
one_round() {
  rm -f "$work/full.zip" "$work/full.zip.partial" "$work/full.zip.resume"
  full=$(secs "$bin" backup "$data" -o "$work/full.zip")
  size=$(stat -c %s "$work/full.zip")
  cp "$work/full.zip" "$work/upd.zip"
  upd=$(secs "$bin" backup "$new" -o "$work/upd.zip" --update)
  # Resume: kill -9 when the partial file passes half the full archive's size.
  rm -f "$work/res.zip" "$work/res.zip.partial" "$work/res.zip.resume"
  sync
  evict
  "$bin" backup "$data" -o "$work/res.zip" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    s=$(stat -c %s "$work/res.zip.partial" 2>/dev/null || echo 0)
    if [ "$s" -gt $((size / 2)) ]; then kill -9 "$pid"; break; fi
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
  at=$(stat -c %s "$work/res.zip.partial")
  res=$(secs "$bin" backup "$data" -o "$work/res.zip")
  # Resume: kill -9 at half the full backup's wall time (half-way in time rather than in bytes:
  # the conversations, pages and index are made after the files).
  rm -f "$work/res2.zip" "$work/res2.zip.partial" "$work/res2.zip.resume"
  sync
  evict
  "$bin" backup "$data" -o "$work/res2.zip" >/dev/null 2>&1 &
  pid=$!
  sleep "$(python3 -c "print($full / 2)")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  at2=$(stat -c %s "$work/res2.zip.partial" 2>/dev/null || echo 0)
  res2=$(secs "$bin" backup "$data" -o "$work/res2.zip")
}
pct() { python3 -c "print(f'{100 * $1 / $2:.0f}%')"; }
rounds=${ROUNDS:-1}
rows=()
fulls=() upds=() ress=() res2s=() pus=() prs=() pr2s=()
ratio() { python3 -c "print(f'{100 * $1 / $2:.1f}')"; }
for ((r = 1; r <= rounds; r++)); do
  one_round
  fulls+=("$full") upds+=("$upd") ress+=("$res") res2s+=("$res2")
  pus+=("$(ratio "$upd" "$full")") prs+=("$(ratio "$res" "$full")") pr2s+=("$(ratio "$res2" "$full")")
  rows+=("| $r | ${full} s | ${upd} s, $(pct "$upd" "$full") | ${res} s at $((at >> 20)) of $((size >> 20)) MB, $(pct "$res" "$full") | ${res2} s at $((at2 >> 20)) MB, $(pct "$res2" "$full") |")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "| round | full backup | update: 52 MB export of a new conversation (<= 40%) | resume after kill -9 at half the archive (<= 70%) | resume after kill -9 at half the time (<= 70%) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ "$rounds" -gt 1 ]; then
  # Each column's median, and the median of the rounds' shares of their own full backup.
  echo "| median | $(median "${fulls[@]}") s | $(median "${upds[@]}") s, $(median "${pus[@]}")% | $(median "${ress[@]}") s, $(median "${prs[@]}")% | $(median "${res2s[@]}") s, $(median "${pr2s[@]}")% |"
fi
