#!/usr/bin/python3
"""Check that fcn's batch norm tensors load into PyTorch's nn.BatchNorm2d strictly.

Builds a PyTorch module holding one nn.BatchNorm2d per batch norm layer of a
model.safetensors written by fcn (found by their running_mean), named as fcn names
them, loads those layers' tensors with load_state_dict(strict=True) — weight, bias,
running_mean, running_var and num_batches_tracked (an int64 scalar) — and prints the
result and each layer's num_batches_tracked (one per training forward: steps × iter_size).

Run by hand where Debian's python3-torch is installed (apt-get install python3-torch):

    go run ./cmd/fcn train --out /tmp/run --set train.steps=20
    /usr/bin/python3 scripts/torch_batchnorm_strict.py /tmp/run/model.safetensors

It exits with status 1 if any key is missing or unexpected, or a count is not int64.
"""

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_safetensors import read_safetensors  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_batchnorm_strict.py MODEL.safetensors")
    _, weights = read_safetensors(sys.argv[1])
    layers = sorted({k.rsplit(".", 1)[0] for k in weights if k.endswith(".running_mean")})
    if not layers:
        sys.exit(f"{sys.argv[1]}: no batch norm layer (no <layer>.running_mean)")
    net = nn.Module()
    for name in layers:
        net.add_module(name, nn.BatchNorm2d(weights[name + ".running_mean"].shape[0]))
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items() if k.rsplit(".", 1)[0] in layers}
    result = net.load_state_dict(state, strict=True)  # raises on missing or unexpected keys
    print(result)
    ok = True
    for name in layers:
        count = getattr(net, name).num_batches_tracked
        print(f"{name}\tnum_batches_tracked={int(count)}\t{count.dtype}")
        ok = ok and count.dtype == torch.int64 and name + ".num_batches_tracked" in weights
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
