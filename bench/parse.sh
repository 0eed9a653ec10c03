#!/usr/bin/env bash
# Conversation benchmark: decode+parse throughput of a 2-million-message TXT export in UTF-8 with
# BOM, GB18030 and UTF-16LE, and of an MHT of 200,000 messages with 5,000 images; with
# `iconv | wc -l` over the same bytes as the floor, and peak memory of each run.
# Usage: bench/parse.sh [DATA_DIR] [MESSAGES] [MHT_MESSAGES] [IMAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-target/bench-data/chats}
cargo build --release --quiet -p qqvault-formats --example parse_file
bin=target/release/examples/parse_file
if [ ! -f "$data/chat.mht" ]; then
  python3 bench/gen_chat_input.py "$data" "${2:-2000000}" "${3:-200000}" "${4:-5000}"
  # The same text in the other encodings (iconv writes no BOM for UTF-16LE: add it).
  tail -c +4 "$data/chat-utf8bom.txt" | iconv -f UTF-8 -t GB18030 > "$data/chat-gb18030.txt"
  { printf '\xff\xfe'; tail -c +4 "$data/chat-utf8bom.txt" | iconv -f UTF-8 -t UTF-16LE; } > "$data/chat-utf16le.txt"
fi
echo "| file | qqvault decode+parse | messages/s | peak RSS | iconv to UTF-8 piped into wc -l |"
echo "|---|---|---|---|---|"
for f in chat-utf8bom.txt:UTF-8 chat-gb18030.txt:GB18030 chat-utf16le.txt:UTF-16 chat.mht:UTF-8; do
  file=$data/${f%%:*}
  enc=${f##*:}
  cat "$file" >/dev/null
  out=$( { /usr/bin/time -f "RSS %M" "$bin" "$file"; } 2>&1 )
  rss=$(echo "$out" | sed -n 's/^RSS //p')
  line=$(echo "$out" | grep -v '^RSS')
  mbs=$(echo "$line" | sed -E 's/.* = ([0-9]+) MB\/s.*/\1/')
  msgs=$(echo "$line" | sed -E 's/.* MB\/s, ([0-9]+) messages\/s.*/\1/')
  size=$(stat -c %s "$file")
  t0=$(date +%s.%N); iconv -f "$enc" -t UTF-8 "$file" | wc -l >/dev/null; t1=$(date +%s.%N)
  floor=$(python3 -c "print(round($size / 1e6 / ($t1 - $t0)))")
  echo "| ${f%%:*} ($(python3 -c "print(round($size/1e6))") MB) | $mbs MB/s | $msgs | $((rss / 1024)) MB | $floor MB/s |"
done
