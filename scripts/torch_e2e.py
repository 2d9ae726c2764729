#!/usr/bin/python3
"""A plain PyTorch training run of fcn16s-tiny on a VOC-layout folder: the baseline of
fcn's end-to-end images per second (README, "End to end").

The data are decoded once, before timing, and held in memory as tensors (normalised as
fcn's meanstd: ImageNet mean and std on the 0-1 scale); each step takes the next batch of
a shuffled epoch, flips each image horizontally with probability 1/2 (as fcn's
`flip: true`), and runs forward, cross-entropy (mean over pixels, ignore index 255),
backward and SGD (lr 0.01, momentum 0.9, weight decay 5e-4 on every parameter, the
frozen 8x deconvolution excluded): configs/fcn16s-tiny.yaml. Evaluation is a forward
pass over the val split, timed separately.

Run with Debian's interpreter and its python3-torch (never a dependency of fcn):

    go run ./cmd/fcn data synth --out /tmp/e2e/voc --n 2000 --n-val 300 --size 96 --classes 11
    /usr/bin/python3 scripts/torch_e2e.py /tmp/e2e/voc --threads 2 --steps 300 --warmup 20

It prints the training img/s over --steps steps after --warmup untimed ones, and the
evaluation time, and the whole run's img/s (decoding, warm-up and evaluation
included); with --repeat R it times R such runs (continuing to train) and prints
each and their median.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fcn16s_tiny import FCN16sTiny  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load_split(root, split):
    """Decodes every image and mask of a split into an N×3×H×W float tensor (normalised)
    and an N×H×W int64 tensor."""
    with open(os.path.join(root, "ImageSets", "Segmentation", split + ".txt")) as f:
        ids = [line.strip() for line in f if line.strip()]
    imgs, labs = [], []
    for i in ids:
        imgs.append(np.asarray(Image.open(os.path.join(root, "JPEGImages", i + ".jpg")).convert("RGB")))
        labs.append(np.asarray(Image.open(os.path.join(root, "SegmentationClass", i + ".png"))))
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255)
    x = ((x - MEAN) / STD).contiguous()
    y = torch.from_numpy(np.stack(labs).astype(np.int64))
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="VOC-layout folder (JPEGImages, SegmentationClass, ImageSets/Segmentation)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300, help="timed steps per repeat")
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs (their median is printed)")
    ap.add_argument("--classes", type=int, default=0, help="classes (default: the largest label below 255, plus 1)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    t_start = t0 = time.perf_counter()
    xtr, ytr = load_split(args.root, "train")
    xval, yval = load_split(args.root, "val")
    decode_s = time.perf_counter() - t0
    classes = args.classes or int(ytr[ytr != 255].max()) + 1
    print(f"decoded {len(xtr)} train and {len(xval)} val images ({tuple(xtr.shape[2:])}) in {decode_s:.2f}s; {classes} classes, {args.threads} threads")

    net = FCN16sTiny(classes)
    # fcn's initialisation is not reproduced (speed does not depend on it), except the
    # bilinear deconvolutions, which keep the loss finite.
    for m in (net.upscore2, net.upscore8):
        k = m.kernel_size[0]
        f = (k + 1) // 2
        c = f - 1 if k % 2 == 1 else f - 0.5
        og = torch.arange(k, dtype=torch.float32)
        filt = (1 - (og - c).abs() / f)
        w = torch.zeros_like(m.weight)
        for i in range(classes):
            w[i, i] = filt[:, None] * filt[None, :]
        m.weight.data.copy_(w)
    net.upscore8.weight.requires_grad_(False)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=5e-4)

    n, bs = len(xtr), args.batch
    state = {"perm": torch.randperm(n), "i": 0}

    def step():
        if state["i"] + bs > n:  # drop the short last batch, as fcn's training loader
            state["perm"], state["i"] = torch.randperm(n), 0
        idx = state["perm"][state["i"]:state["i"] + bs]
        state["i"] += bs
        x, y = xtr[idx], ytr[idx]
        flip = torch.rand(bs) < 0.5
        x[flip] = x[flip].flip(3)
        y[flip] = y[flip].flip(2)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y, ignore_index=255)
        loss.backward()
        opt.step()
        return loss

    net.train()
    for _ in range(args.warmup):
        step()
    rates = []
    for r in range(args.repeat):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        dt = time.perf_counter() - t0
        rates.append(args.steps * bs / dt)
        print(f"run {r + 1}: {args.steps} steps in {dt:.2f}s: {rates[-1]:.1f} img/s (loss {loss.item():.4f})")

    net.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(xval), bs):
            net(xval[i:i + bs]).argmax(1)
    eval_s = time.perf_counter() - t0
    net.train()
    print(f"eval: {len(xval)} images in {eval_s:.3f}s ({len(xval) / eval_s:.1f} img/s)")
    print(f"median train: {statistics.median(rates):.1f} img/s over {args.repeat} run(s)")
    # As a user sees a whole run: every step's images over the time from the start,
    # decoding, warm-up and the evaluation included.
    whole = time.perf_counter() - t_start
    imgs = (args.warmup + args.steps * args.repeat) * bs
    print(f"whole run: {imgs} images in {whole:.2f}s: {imgs / whole:.1f} img/s")


if __name__ == "__main__":
    main()
