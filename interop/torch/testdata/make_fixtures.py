#!/usr/bin/python3
"""Makes the PyTorch fixtures of interop/torch's tests (run once; the outputs are committed).

    cd interop/torch/testdata && /usr/bin/python3 make_fixtures.py

Needs torch (1.13 here) and torchvision. The nets are torchvision's VGG16 and VGG16-BN with
every channel count divided by 16 (same layer names, kernel sizes and state_dict keys), so
the files stay small. Seeds are fixed, and the zip files come out byte for byte the same; the
legacy files differ between runs in their storage keys only (torch names them by object
id). The files are the reference; the tests never run Python.
"""
import io
import pickle
import struct
import zipfile

import numpy as np
import torch
from torchvision.models.vgg import VGG, make_layers

CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
NARROW = [c if c == "M" else c // 16 for c in CFG_D]
CLASSES = 10
# fc6/fc7 width: 4096/64 rather than /16, so that all fixtures stay under 3 MB (fc6 is
# the bulk: 32*7*7 by FC).
FC = 4096 // 64


def narrow_vgg(bn):
    net = VGG(make_layers(NARROW, batch_norm=bn), num_classes=CLASSES, init_weights=False)
    # torchvision's classifier is Linear(512*7*7, 4096), ..., Linear(4096, classes); narrow it too.
    c = NARROW[-2]
    net.classifier[0] = torch.nn.Linear(c * 7 * 7, FC)
    net.classifier[3] = torch.nn.Linear(FC, FC)
    net.classifier[6] = torch.nn.Linear(FC, CLASSES)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    if bn:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    return net.eval()


def main():
    torch.manual_seed(20261207)
    x = torch.rand(1, 3, 224, 224)
    np.save("input.npy", x.numpy().astype(np.float32))
    for bn, name in [(False, "vgg16n"), (True, "vgg16bn_n")]:
        net = narrow_vgg(bn)
        with torch.no_grad():
            logits = net(x)
        np.save(name + "_logits.npy", logits.numpy().astype(np.float32))
        sd = net.state_dict()
        torch.save(sd, name + ".pth")

    # dtypes, strides and offsets: small tensors whose float64 values the test knows.
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6) / 8
    big = torch.arange(40, dtype=torch.float32) / 4
    dt = {
        "f32": base.float(),
        "f16": base.half(),
        "bf16": base.bfloat16(),
        "f64": base.clone(),
        "i64": torch.tensor(7, dtype=torch.int64),
        "transposed": base.float().t(),          # strides (1, 6)
        "sliced": big[5:17].view(3, 4),          # storage offset 5
        "strided": base.float()[1:, ::2],        # offset 6, strides (6, 2)
        "scalar": torch.tensor(2.5),
    }
    torch.save(dt, "dtypes.pth")
    torch.save(dt, "dtypes_legacy.pth", _use_new_zipfile_serialization=False)
    small = {"a.weight": base.float(), "a.bias": torch.ones(3)}
    torch.save(small, "small_legacy.pth", _use_new_zipfile_serialization=False)
    torch.save(small, "small.pth")
    torch.save({"state_dict": small, "epoch": 3}, "wrapped_state_dict.pth")
    torch.save({"model": small, "optimizer": {"lr": 0.1}}, "wrapped_model.pth")

    # A pickle whose global is os.system: built from opcodes, never unpickled here.
    evil = (b"\x80\x02" + b"cos\nsystem\n" + b"X\x04\x00\x00\x00true" + b"\x85" + b"R" + b".")
    write_zip_like("evil.pth", evil)
    # A zip whose data.pkl refers to a storage entry the archive lacks.
    buf = io.BytesIO()
    torch.save(small, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin, zipfile.ZipFile("missing_storage.pth", "w") as zout:
        for item in zin.infolist():
            if item.filename.endswith("/data/1"):
                continue
            zout.writestr(item, zin.read(item.filename))
    raw = open("small.pth", "rb").read()
    open("truncated.pth", "wb").write(raw[: len(raw) // 2])
    raw = open("small_legacy.pth", "rb").read()
    open("truncated_legacy.pth", "wb").write(raw[: len(raw) - 20])


def write_zip_like(path, pkl):
    with zipfile.ZipFile(path, "w") as z:  # fixed dates: the same bytes every run
        z.writestr(zipfile.ZipInfo("archive/data.pkl", (1980, 1, 1, 0, 0, 0)), pkl)
        z.writestr(zipfile.ZipInfo("archive/version", (1980, 1, 1, 0, 0, 0)), "3\n")


if __name__ == "__main__":
    main()
