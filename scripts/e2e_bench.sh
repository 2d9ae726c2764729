#!/bin/sh
# End-to-end images per second of fcn train and of scripts/torch_e2e.py on the same
# VOC-layout set, alternated ROUNDS times so both see the same load (README, "End to end").
#
#   go run ./cmd/fcn data synth --out /tmp/e2e/voc --n 2000 --n-val 300 --size 96 --classes 11
#   go build -o /tmp/e2e/fcn ./cmd/fcn
#   scripts/e2e_bench.sh /tmp/e2e/voc /tmp/e2e/fcn 3
#
# Each round: the load (uptime), PyTorch's 300 timed steps after 10 of warm-up, then a
# 300-step fcn run with one evaluation of the val split at the end. fcn's "train" figure
# is its progress line (steps only); "whole" is 2400 images over the command's wall time
# (start-up, data check, loading, evaluation and writing the model included).
set -eu
root=${1:?usage: e2e_bench.sh VOC_DIR FCN_BINARY [ROUNDS]}
fcn=${2:?usage: e2e_bench.sh VOC_DIR FCN_BINARY [ROUNDS]}
rounds=${3:-3}
python=${PYTHON:-/usr/bin/python3}
here=$(dirname "$0")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq "$rounds"); do
	echo "round $r: $(uptime)"
	"$python" "$here/torch_e2e.py" "$root" --threads 2 --steps 300 --warmup 10 | grep -E "^run|^eval|^whole" | sed 's/^/  torch /'
	t0=$(date +%s.%N)
	"$fcn" train --config fcn16s-tiny --set data.root="$root" --set model.classes=11 \
		--set data.transforms.crop=96 --set train.batch_size=8 --set train.steps=300 \
		--set eval.every=300 --set checkpoint.every=0 --out "$out/run$r" --progress plain >"$out/log$r"
	t1=$(date +%s.%N)
	grep -E "^step 300/|^eval" "$out/log$r" | sed 's/^/  fcn /'
	echo "  fcn whole run: 2400 images in $(echo "$t1 - $t0" | bc)s: $(echo "scale=1; 2400 / ($t1 - $t0)" | bc) img/s"
done
echo "done: $(uptime)"
