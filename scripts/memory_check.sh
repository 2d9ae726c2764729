#!/usr/bin/env bash
# Peak RSS of a few real runs against fcn's memory estimate (fcn summary prints it).
# usage: scripts/memory_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/fcn" ./cmd/fcn
fcn="$work/fcn"
peak() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }  # kilobytes
est() { "$fcn" summary "$@" | sed -n 's/^memory (estimated from shapes): training \([^(]*\) (.*inference \([^;]*\);.*/\1|\2/p'; }
row() { printf '| %s | %s | %s MiB |\n' "$1" "$2" "$(( $3 / 1024 ))"; }

e=$(est); row "default: train 16×64×64 (30 steps)" "${e%|*}" "$(peak "$fcn" train --set train.steps=30 --set eval.every=0 --progress off --out "$work/r1")"
tiny=(--config fcn16s-tiny --set data.format=synthetic --set data.synthetic.size=128 --set data.transforms.crop=0 --set model.classes=11)
e=$(est "${tiny[@]}"); row "fcn16s-tiny: train 8×128×128 (10 steps)" "${e%|*}" "$(peak "$fcn" train "${tiny[@]}" --set train.steps=10 --set eval.every=0 --progress off --out "$work/r2")"
"$fcn" data synth --out "$work/img" --n 1 --n-val 1 --size 480 >/dev/null
e=$(est --input 480x480 --batch 1); row "default: predict one 480×480 image" "${e#*|}" "$(peak "$fcn" predict --run "$work/r1" --input "$work/img/JPEGImages/train_000000.jpg" --output "$work/pred")"
e=$(est --config fcn16s-tiny --input 128x128 --batch 8); row "fcn bench W4 (8×128×128 training step)" "${e%|*}" "$(peak "$fcn" bench --only W4 --iters 2 --warmup 1)"
