#!/usr/bin/env bash
# Measures fcn board's CPU use while idle: 100 finished runs under one folder, a headless
# Chromium page open on the board (polling as a user's tab does), over 60 s.
# usage: scripts/board_idle_cpu.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
work=$(mktemp -d)
trap 'kill $board $chrome 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/fcn" ./cmd/fcn
"$work/fcn" train --set train.steps=40 --set eval.every=10 --progress off --out "$work/runs/run-000" >/dev/null
for i in $(seq 1 99); do cp -r "$work/runs/run-000" "$work/runs/run-$(printf %03d "$i")"; done
"$work/fcn" board "$work/runs" --addr 127.0.0.1:6199 >/dev/null &
board=$!
sleep 1
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/chrome" --remote-debugging-port=0 http://127.0.0.1:6199/ >/dev/null 2>&1 &
chrome=$!
sleep 5 # the page loads and draws
ticks() { awk '{print $14 + $15}' "/proc/$board/stat"; }
t0=$(ticks)
sleep "$secs"
t1=$(ticks)
hz=$(getconf CLK_TCK)
awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "fcn board, 100 runs, a page open, %d s: %.2f s of CPU = %.2f%% of one core\n", s, d / hz, 100 * d / hz / s }'
