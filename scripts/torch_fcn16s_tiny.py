#!/usr/bin/python3
"""Check fcn's fcn16s-tiny weights and predictions against PyTorch.

Builds the fcn16s-tiny network (configs/fcn16s-tiny.yaml) as a PyTorch module whose
state_dict names are fcn's tensor names, loads a model.safetensors written by fcn into it
with load_state_dict(strict=True), runs it on the inputs `fcn predict --scores` saved, and
compares the scores and the predicted classes with fcn's.

Run by hand where Debian's python3-torch is installed (apt-get install python3-torch;
use /usr/bin/python3 if another python3 comes first on PATH):

    go run ./cmd/fcn data synth --out /tmp/voc --n 32 --n-val 8 --size 128 --classes 5
    go run ./cmd/fcn train --config fcn16s-tiny --set data.root=/tmp/voc \
        --set model.classes=5 --set train.steps=20 --out /tmp/run16
    go run ./cmd/fcn predict --checkpoint /tmp/run16 --input /tmp/voc/JPEGImages \
        --output /tmp/pred16 --scores
    /usr/bin/python3 scripts/torch_fcn16s_tiny.py /tmp/run16/model.safetensors /tmp/pred16

For every <name>.scores.safetensors in the prediction folder it prints the largest
absolute difference between the two frameworks' scores and the share of pixels whose
argmax class agrees, also with the palette mask <name>.png when Pillow is installed. It
exits with status 1 if any image's scores differ by more than 1e-3 (float32 sums in another
order differ by about 1e-5 here) or any pixel's class differs without a near-tie.
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_safetensors import read_safetensors  # noqa: E402


class FCN16sTiny(nn.Module):
    """configs/fcn16s-tiny.yaml: four stages of two 3x3 convs (32, 64, 128, 256), scores at
    1/16, a 2x deconvolution fused with scores from pool3, a frozen 8x deconvolution."""

    def __init__(self, classes):
        super().__init__()
        chans = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256)]
        names = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2"]
        for n, (i, o) in zip(names, chans):
            setattr(self, n, nn.Conv2d(i, o, 3, padding=1))
        self.score_fr = nn.Conv2d(256, classes, 1)
        self.upscore2 = nn.ConvTranspose2d(classes, classes, 4, stride=2, padding=1, bias=False)
        self.score_pool3 = nn.Conv2d(128, classes, 1)
        self.upscore8 = nn.ConvTranspose2d(classes, classes, 16, stride=8, padding=4, bias=False)

    def forward(self, x):
        r = F.relu
        x = F.max_pool2d(r(self.conv1_2(r(self.conv1_1(x)))), 2)
        x = F.max_pool2d(r(self.conv2_2(r(self.conv2_1(x)))), 2)
        pool3 = F.max_pool2d(r(self.conv3_2(r(self.conv3_1(x)))), 2)
        x = F.max_pool2d(r(self.conv4_2(r(self.conv4_1(pool3)))), 2)
        fuse = self.upscore2(self.score_fr(x)) + self.score_pool3(pool3)
        return self.upscore8(fuse)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: torch_fcn16s_tiny.py MODEL.safetensors PREDICTION_DIR")
    _, weights = read_safetensors(sys.argv[1])
    classes = weights["score_fr.weight"].shape[0]
    net = FCN16sTiny(classes)
    net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in weights.items()}, strict=True)
    net.eval()
    try:
        from PIL import Image
    except ImportError:
        Image = None
    pred_dir = sys.argv[2]
    files = sorted(f for f in os.listdir(pred_dir) if f.endswith(".scores.safetensors"))
    if not files:
        sys.exit(f"no *.scores.safetensors in {pred_dir}: run fcn predict with --scores")
    worst, ok = 0.0, True
    for f in files:
        _, t = read_safetensors(os.path.join(pred_dir, f))
        with torch.no_grad():
            got = net(torch.from_numpy(np.array(t["input"]))).numpy()
        ref = t["scores"]
        diff = float(np.abs(got - ref).max())
        worst = max(worst, diff)
        agree = float((got.argmax(1) == ref.argmax(1)).mean())
        # A differing class is acceptable only where fcn's top two scores nearly tie.
        top2 = np.sort(ref, axis=1)[:, -2:]
        tie = (top2[:, 1] - top2[:, 0]) < 1e-3
        mismatch_no_tie = int(((got.argmax(1) != ref.argmax(1)) & ~tie).sum())
        line = f"{f[:-len('.scores.safetensors')]}: {ref.shape[2]}x{ref.shape[3]}, max |torch - fcn| = {diff:.3g} (|scores| up to {np.abs(ref).max():.3g}), argmax agreement {agree:.6f}"
        mask_path = os.path.join(pred_dir, f[:-len(".scores.safetensors")] + ".png")
        if Image is not None and os.path.exists(mask_path):
            mask = np.asarray(Image.open(mask_path))
            line += f", with fcn's mask {float((got.argmax(1)[0] == mask).mean()):.6f}"
        print(line)
        if diff > 1e-3 or mismatch_no_tie:
            ok = False
    print(f"{len(files)} images, largest score difference {worst:.3g}: {'OK' if ok else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
