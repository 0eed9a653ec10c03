#!/usr/bin/env bash
# Export benchmark (issue 5): backs up a generated corpus of 2.2 million messages (a TXT export of
# 2,000,000 and an MHT export of 200,000 with 5,000 pictures, from gen_chat_input.py) once, then
# times `qqvault export` in each format and reports messages per second and peak memory.
# Usage: bench/export.sh [DATA_DIR] [MESSAGES=2000000] [MHT_MESSAGES=200000] [IMAGES=5000]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-target/bench-data/export}
cargo build --release --quiet
bin=target/release/qqvault
if [ ! -f "$data/in/chat.mht" ]; then
  python3 bench/gen_chat_input.py "$data/in" "${2:-2000000}" "${3:-200000}" "${4:-5000}"
fi
if [ ! -f "$data/chats.zip" ]; then
  /usr/bin/time -f "backup (with the viewer): %e s, peak RSS %M KB" \
    "$bin" backup "$data/in" -o "$data/chats.zip" --force >/dev/null
fi
msgs=$("$bin" info "$data/chats.zip" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
echo "archive: $data/chats.zip, $msgs messages"
echo "| format | seconds | messages/s | peak RSS | pages | output |"
echo "|---|---|---|---|---|---|"
for fmt in html txt jsonl; do
  out=$data/out-$fmt
  rm -rf "$out"
  t=$( { /usr/bin/time -f "%e %M" "$bin" export "$data/chats.zip" -o "$out" --format "$fmt" --json >"$data/report-$fmt.json"; } 2>&1 | tail -1)
  secs=${t% *}
  rss_mb=$(( ${t#* } / 1024 ))
  pages=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pages"])' "$data/report-$fmt.json")
  size=$(du -sh "$out" | cut -f1)
  rate=$(python3 -c "print(f'{$msgs / max($secs, 0.001):,.0f}')")
  echo "| $fmt | $secs | $rate | ${rss_mb} MB | $pages | $size |"
done
