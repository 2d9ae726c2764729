#!/usr/bin/python3
"""PyTorch side of `fcn bench`: the same workloads W1-W4, timed the same way.

Run with Debian's interpreter and its python3-torch (never a dependency of fcn itself):

    apt-get install python3-torch
    /usr/bin/python3 scripts/torch_bench.py --threads 2 [--json torch.json]

and, in the same session, `go run ./cmd/fcn bench --threads 2`. Divide fcn's median by
PyTorch's for each row: below 1 means fcn is faster.

Debian's build sends nn.ConvTranspose2d through a slow im2col + reference-BLAS path
("stock"). The same mathematics routed through oneDNN's convolution primitives
("onednn": forward = conv2d input-gradient, backward-data = conv2d, weight gradient =
conv2d weight-gradient with input and output swapped) is the strong anchor; both are timed.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N = 8


def median_ms(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


class OneDNNConvTranspose(torch.autograd.Function):
    """Transposed convolution computed by oneDNN conv primitives (the adjoint route)."""

    @staticmethod
    def forward(ctx, x, w, stride, pad):
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.pad = stride, pad
        n, _, h, wd = x.shape
        k = w.shape[2]
        ho, wo = (h - 1) * stride - 2 * pad + k, (wd - 1) * stride - 2 * pad + k
        y_like = x.new_empty((n, w.shape[1], ho, wo))
        gi, _, _ = torch.ops.aten.convolution_backward(
            x, y_like, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1,
            [True, False, False])
        return gi

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        gy = gy.contiguous()
        gx = gw = None
        # Only what autograd asks for: a frozen weight (W2 fwdbwd_frozen, W4's upscore8)
        # gets no weight gradient, as on fcn's side.
        if ctx.needs_input_grad[0]:
            gx = F.conv2d(gy, w, stride=ctx.stride, padding=ctx.pad)
        if ctx.needs_input_grad[1]:
            _, gw, _ = torch.ops.aten.convolution_backward(
                x, gy, w, None, [ctx.stride] * 2, [ctx.pad] * 2, [1, 1], False, [0, 0], 1,
                [False, True, False])
        return gx, gw, None, None


def check_routes():
    """The oneDNN route computes what nn.ConvTranspose2d computes: output, dX and dW."""
    torch.manual_seed(1)
    for c, h, k, s, p in ((21, 5, 16, 8, 4), (6, 7, 4, 2, 1)):
        x = torch.randn(2, c, h, h, requires_grad=True)
        w = torch.randn(c, c, k, k, requires_grad=True)
        g = None
        got = []
        for route in ("stock", "onednn"):
            y = deconv(route, x, w, s, p)
            if g is None:
                g = torch.randn_like(y)
            got.append((y,) + torch.autograd.grad(y, (x, w), g))
        for name, a, b in zip(("y", "dx", "dw"), got[0], got[1]):
            err = ((a - b).abs().max() / a.abs().max()).item()
            if err > 1e-4:
                raise SystemExit(f"onednn route differs from stock in {name}: rel err {err:.2g}")


def deconv(route, x, w, stride, pad):
    if route == "onednn":
        return OneDNNConvTranspose.apply(x, w, stride, pad)
    return F.conv_transpose2d(x, w, stride=stride, padding=pad)


def layer_benches(iters, warmup, only, routes):
    rows = []
    if "W1" in only:
        rows += w1_benches(iters, warmup)
    # W2: k16 s8 p4 21->21, 16x16 -> 128x128; W3: k4 s2 p1 64->64, 32x32 -> 64x64.
    for wid, c, h, k, s, p in (("W2", 21, 16, 16, 8, 4), ("W3", 64, 32, 4, 2, 1)):
        if wid not in only:
            continue
        x = torch.randn(N, c, h, h, requires_grad=True)
        w = torch.randn(c, c, k, k, requires_grad=True)
        flops = 2 * N * c * c * h * h * k * k
        for route in routes:
            with torch.no_grad():
                rows.append((wid, "fwd", route,
                             median_ms(lambda: deconv(route, x, w, s, p), iters, warmup), flops))

            def fb():
                x.grad, w.grad = None, None
                deconv(route, x, w, s, p).sum().backward()
            rows.append((wid, "fwdbwd", route, median_ms(fb, iters, warmup), 3 * flops))
            if wid == "W2":
                wf = w.detach()

                def fb_frozen():
                    x.grad = None
                    deconv(route, x, wf, s, p).sum().backward()
                rows.append((wid, "fwdbwd_frozen", route,
                             median_ms(fb_frozen, iters, warmup), 2 * flops))
    return rows


def w1_benches(iters, warmup):
    rows = []
    # W1: conv 3x3 64->64 on 64x64.
    x = torch.randn(N, 64, 64, 64, requires_grad=True)
    conv = nn.Conv2d(64, 64, 3, padding=1)
    flops = 2 * N * 64 * 64 * 64 * 64 * 9
    with torch.no_grad():
        rows.append(("W1", "fwd", "", median_ms(lambda: conv(x), iters, warmup), flops))

    def w1_fb():
        x.grad = None
        conv.zero_grad(set_to_none=True)
        conv(x).sum().backward()
    rows.append(("W1", "fwdbwd", "", median_ms(w1_fb, iters, warmup), 3 * flops))
    return rows


class FCN16sTiny(nn.Module):
    def __init__(self, route, classes=21):
        super().__init__()
        self.route = route
        chans = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256)]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=1) for i, o in chans)
        self.score_fr = nn.Conv2d(256, classes, 1)
        self.score_pool3 = nn.Conv2d(128, classes, 1)
        eye = torch.zeros(classes, classes, 1, 1) + torch.eye(classes).view(classes, classes, 1, 1)
        self.upscore2 = nn.Parameter(eye * bilinear(4))
        self.upscore8 = eye * bilinear(16)  # frozen: a buffer, not a parameter

    def forward(self, x):
        pool3 = None
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i % 2 == 1:
                x = F.max_pool2d(x, 2, 2)
                if i == 5:
                    pool3 = x
        up2 = deconv(self.route, self.score_fr(x), self.upscore2, 2, 1)
        fuse = up2 + self.score_pool3(pool3)
        return deconv(self.route, fuse, self.upscore8, 8, 4)


def bilinear(k):
    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    og = torch.arange(k, dtype=torch.float32)
    f = 1 - (og - center).abs() / factor
    return f.view(-1, 1) * f.view(1, -1)


def step_benches(iters, warmup, routes):
    rows = []
    torch.manual_seed(0)
    x = torch.randn(N, 3, 128, 128)
    y = torch.randint(0, 21, (N, 128, 128))
    y[torch.rand(N, 128, 128) < 0.05] = 255
    for route in routes:
        net = FCN16sTiny(route)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y, ignore_index=255).backward()
            opt.step()
        rows.append(("W4", "step", route, median_ms(step, iters, warmup), None))
    return rows


def gemm_bench(iters, warmup, routes):
    """GEMM 1024³ in float32, as fcn bench's GEMM row: "stock" is torch.mm (whatever BLAS
    this build links, see torch.__config__.show(); Debian's is the reference BLAS),
    "onednn" the same product through oneDNN's inner-product primitive (mkldnn_linear,
    which computes a·bᵀ, so b is passed transposed)."""
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1024, 1024, generator=g) * 2 - 1
    b = torch.rand(1024, 1024, generator=g) * 2 - 1
    flops = 2 * 1024 ** 3
    rows = []
    if "stock" in routes:
        c = torch.empty(1024, 1024)
        rows.append(("GEMM", "1024³", "stock", median_ms(lambda: torch.mm(a, b, out=c), iters, warmup), flops))
    if "onednn" in routes:
        am, btm = a.to_mkldnn(), b.t().contiguous().to_mkldnn()
        got = torch._C._nn.mkldnn_linear(am, btm, None).to_dense()
        if not torch.allclose(got, a @ b, atol=1e-3):
            raise SystemExit("oneDNN GEMM route disagrees with torch.mm")
        rows.append(("GEMM", "1024³", "onednn", median_ms(lambda: torch._C._nn.mkldnn_linear(am, btm, None), iters, warmup), flops))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    ap.add_argument("--only", default="W1,W2,W3,W4,GEMM", help="comma-separated workloads to run")
    ap.add_argument("--routes", default="stock,onednn",
                    help="transposed-convolution routes to time (stock, onednn)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    check_routes()
    only = {w.strip().upper() for w in args.only.split(",")}
    if not only <= {"W1", "W2", "W3", "W4", "GEMM"}:
        raise SystemExit(f"--only: unknown workload in {args.only!r} (want W1, W2, W3, W4, GEMM)")
    routes = [r.strip().lower() for r in args.routes.split(",")]
    if not set(routes) <= {"stock", "onednn"}:
        raise SystemExit(f"--routes: unknown route in {args.routes!r} (want stock, onednn)")
    rows = layer_benches(args.iters, args.warmup, only, routes)
    if "W4" in only:
        rows += step_benches(args.iters, args.warmup, routes)
    if "GEMM" in only:
        rows += gemm_bench(args.iters, args.warmup, routes)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.iters}")
    print(f"{'id':4} {'pass':14} {'route':7} {'median_ms':>10} {'GFLOP/s':>8}")
    out = []
    for wid, pas, route, ms, flops in rows:
        gf = flops / ms / 1e6 if flops else None
        print(f"{wid:4} {pas:14} {route:7} {ms:10.2f} {gf if gf else float('nan'):8.1f}")
        out.append({"id": wid, "pass": pas, "route": route, "median_ms": ms, "gflops": gf})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
