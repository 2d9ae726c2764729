#!/usr/bin/env python3
"""Read a safetensors file (e.g. fcn's model.safetensors) with only json, struct and numpy.

    python3 scripts/read_safetensors.py FILE.safetensors...

prints, per tensor: name, dtype, shape, sum (float64) and u32sum (the tensor's bytes as
little-endian uint32 words, summed mod 2**32: exact, and equal to checkpoints.Checksum in Go).
read_safetensors(path) returns (metadata, {name: numpy array}) for other scripts.
"""
import json
import struct
import sys

import numpy as np

# safetensors dtype -> numpy dtype (little-endian)
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    buf = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in sorted(header.items()):
        begin, end = info["data_offsets"]
        dt = np.dtype(DTYPES[info["dtype"]])
        arr = np.frombuffer(buf[begin:end], dtype=dt)
        tensors[name] = arr.reshape(info["shape"])
    return metadata, tensors


def u32sum(arr):
    raw = arr.tobytes()
    raw += b"\0" * (-len(raw) % 4)
    return int(np.frombuffer(raw, dtype="<u4").astype(np.uint64).sum() % 2**32)


def main(paths):
    for path in paths:
        metadata, tensors = read_safetensors(path)
        print(f"# {path} metadata={json.dumps(metadata, sort_keys=True)}")
        for name, arr in tensors.items():
            total = float(arr.astype(np.float64).sum())
            print(f"{name}\t{arr.dtype.name}\t{list(arr.shape)}\tsum={total:.9g}\tu32sum={u32sum(arr):08x}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
