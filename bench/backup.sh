#!/usr/bin/env bash
# Backup benchmark (issue: backup into one verified archive). Generates the input once, then runs,
# side by side on this machine: qqvault backup against `zip -6` followed by `unzip -tq`, and
# qqvault verify against `openssl dgst -sha256` of the archive, with peak memory of each.
# Usage: bench/backup.sh [DATA_DIR] [SCALE]     (SCALE 1.0 = 3.2 GiB input; 0.1 for a quick look)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-target/bench-data/backup}
scale=${2:-1.0}
work=$(dirname "$data")/backup-out
cargo build --release --quiet
bin=target/release/qqvault
if [ ! -d "$data" ]; then
  python3 bench/gen_backup_input.py "$data" "$scale"
fi
mkdir -p "$work"
rm -f "$work"/*.zip
find "$data" -type f -exec cat {} + >/dev/null   # warm the page cache for every contestant alike
in_bytes=$(du -sb "$data" | cut -f1)

measure() { # label, command...: prints "label seconds peak_rss_MB"
  local label=$1; shift
  # What the step before wrote is on disk first, so that its write-behind does not run into
  # this step's own writing (qqvault syncs its archive before renaming it; zip does not).
  sync
  local out
  out=$(mktemp)
  /usr/bin/time -o "$out" -f "%e %M" "$@" >"$work/$label.out" 2>&1 || { echo "$label failed: $(tail -3 "$work/$label.out")" >&2; }
  local t
  t=$(tail -1 "$out"); rm -f "$out"
  echo "$label ${t% *} $(( ${t#* } / 1024 ))"
}

sync
zip_s=$( cd "$data" && /usr/bin/time -f "%e" zip -q -r -6 -n .jpg:.png:.gif:.mp4 "$OLDPWD/$work/ref.zip" . 2>&1 >/dev/null | tail -1 )
sync
unzip_s=$( /usr/bin/time -f "%e" unzip -tq "$work/ref.zip" 2>&1 >/dev/null | tail -1 )
read -r _ backup_s backup_mb < <(measure backup "$bin" backup "$data" -o "$work/q.zip" --force --json)
read -r _ verify_s verify_mb < <(measure verify "$bin" verify "$work/q.zip")
openssl_s=$( /usr/bin/time -f "%e" openssl dgst -sha256 "$work/q.zip" 2>&1 >/dev/null | tail -1 )
ref=$(python3 -c "print(round($zip_s + $unzip_s, 2))")
echo "input: $(python3 -c "print(round($in_bytes / 2**30, 2))") GiB in $(find "$data" -type f | wc -l) files; archive $(du -b "$work/q.zip" | cut -f1) bytes"
echo "| step | qqvault | reference | ratio (target) | qqvault peak RSS |"
echo "|---|---|---|---|---|"
echo "| backup (hash, dedup, write, verify, seal) | ${backup_s} s | zip -6 ${zip_s} s + unzip -tq ${unzip_s} s = ${ref} s | $(python3 -c "print(round($backup_s / $ref, 2))")x (<= 0.7x) | ${backup_mb} MB |"
echo "| verify | ${verify_s} s | openssl dgst -sha256 ${openssl_s} s | $(python3 -c "print(round($verify_s / max($openssl_s, 0.01), 2))")x (<= 1.5x) | ${verify_mb} MB |"
echo "backup stages (s): $(python3 -c "import json; print(json.load(open('$work/backup.out'))['timings'])")"
