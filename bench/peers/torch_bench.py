#!/usr/bin/env python3
"""The PyTorch and numpy peers of `npm run bench`, run by bench/run.ts with /usr/bin/python3.

Modes (each a separate process, so numpy's BLAS threads and torch's OpenMP threads never meet):
  --mode torch  --threads T --only ids   training / inference images/s, conv2d GFLOP/s
  --mode numpy  --threads T --only ids   sgemm GFLOP/s (numpy's BLAS, OpenBLAS on Debian)
  --mode export --onnx PATH              LeNet-5 (batch 256) to ONNX for the ONNX Runtime peer

Same models, batch sizes, optimiser and timing windows as bench/convkit_bench.ts (NCHW here;
the layout does not change the work). Prints one line per measurement on stdout:
  @@RESULT {"id": ..., "value": ..., ...}   or   @@ERROR {"id": ..., "error": ...}
"""
import argparse
import gzip
import json
import os
import statistics
import struct
import sys
import time

TRAIN_BATCH = 64
INFER_BATCH = 256
TRAIN_ROWS_SYNTHETIC = 2048
CONV = dict(n=64, h=32, w=32, c=32, k=64, kernel=3)

FULL = dict(warmup_seconds=1.0, min_warmup_steps=2, window_seconds=0.8, windows=5, max_seconds=30.0)
QUICK = dict(warmup_seconds=0.2, min_warmup_steps=1, window_seconds=0.25, windows=3, max_seconds=10.0)


def emit(kind, payload):
    sys.stdout.write("@@%s %s\n" % (kind, json.dumps(payload)))
    sys.stdout.flush()


def time_steps(step, items_per_step, o):
    """Warm up, size a window from the warm-up's step time, time several windows; the median rate."""
    start = time.perf_counter()
    stamps = []
    while True:
        step()
        stamps.append(time.perf_counter())
        if time.perf_counter() - start >= o["warmup_seconds"] and len(stamps) >= o["min_warmup_steps"]:
            break
    warmup_steps = len(stamps)
    recent = [stamps[i] - (stamps[i - 1] if i > 0 else start) for i in range(max(0, len(stamps) - 5), len(stamps))]
    per_window = max(1, round(o["window_seconds"] / statistics.median(recent)))
    rates = []
    for _ in range(o["windows"]):
        t0 = time.perf_counter()
        for _ in range(per_window):
            step()
        t1 = time.perf_counter()
        rates.append(per_window * items_per_step / (t1 - t0))
        if t1 - start >= o["max_seconds"]:
            break
    return dict(median=statistics.median(rates), min=min(rates), max=max(rates), rates=rates,
                stepsPerWindow=per_window, warmupSteps=warmup_steps, seconds=time.perf_counter() - start)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim:]


def find_idx(directory, name):
    for candidate in (name, name + ".gz"):
        p = os.path.join(directory, candidate)
        if os.path.exists(p):
            return p
    return None


# ---------------------------------------------------------------------------------------------
# torch


def torch_models(torch):
    nn = torch.nn

    def lenet5():
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))

    def convnetm():
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 8 * 8, 256), nn.ReLU(),
            nn.Linear(256, 10))

    def conv_bn(cin, cout, stride, k=3):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout))

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = conv_bn(cin, cout, stride)
            self.b = conv_bn(cout, cout, 1)
            self.shortcut = conv_bn(cin, cout, stride, 1) if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            y = self.b(torch.relu(self.a(x)))
            return torch.relu(y + self.shortcut(x))

    def resnet8():
        return nn.Sequential(
            conv_bn(3, 16, 1), nn.ReLU(),
            BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    return dict(lenet5=lenet5, convnetm=convnetm, resnet8=resnet8)


class TorchBench:
    def __init__(self, torch, args, windows):
        self.torch = torch
        self.args = args
        self.windows = windows
        self.models = torch_models(torch)
        self._fashion = None

    def fashion(self, split):
        torch = self.torch
        d = self.args.data
        images = find_idx(d, split + "-images-idx3-ubyte") if d else None
        labels = find_idx(d, split + "-labels-idx1-ubyte") if d else None
        if not images or not labels:
            return None
        dims, raw = read_idx(images)
        _, raw_labels = read_idx(labels)
        x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dims[0], 1, dims[1], dims[2]).float().div_(255)
        y = torch.frombuffer(bytearray(raw_labels), dtype=torch.uint8).long()
        return x, y

    def training_data(self, name):
        torch = self.torch
        g = torch.Generator().manual_seed(7)
        if name == "lenet5":
            real = self.fashion("train")
            if real is not None:
                rows = real[0].shape[0] // TRAIN_BATCH * TRAIN_BATCH
                return real[0][:rows], real[1][:rows], "Fashion-MNIST train (%d images, shuffled each epoch)" % rows
            shape = (TRAIN_ROWS_SYNTHETIC, 1, 28, 28)
        else:
            shape = (TRAIN_ROWS_SYNTHETIC, 3, 32, 32)
        x = torch.rand(shape, generator=g)
        y = torch.arange(shape[0]) * 7919 % 10
        return x, y, "synthetic %s (%d images)" % ("x".join(map(str, shape[1:])), shape[0])

    def train(self, name):
        torch = self.torch
        torch.manual_seed(1)
        model = self.models[name]()
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        x, y, source = self.training_data(name)
        rows = x.shape[0]
        state = dict(order=torch.randperm(rows), pos=0)

        def step():
            # A real input pipeline: a shuffled batch gathered from the data set each step, as convkit's fit does.
            if state["pos"] + TRAIN_BATCH > rows:
                state["order"] = torch.randperm(rows)
                state["pos"] = 0
            idx = state["order"][state["pos"]:state["pos"] + TRAIN_BATCH]
            state["pos"] += TRAIN_BATCH
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()

        t = time_steps(step, TRAIN_BATCH, self.windows)
        return dict(unit="images/s", value=t["median"], timing=t, data=source)

    def infer(self, name):
        torch = self.torch
        torch.manual_seed(1)
        model = self.models[name]().eval()
        if name == "lenet5":
            real = self.fashion("t10k")
            x = real[0][:INFER_BATCH].contiguous() if real is not None else torch.rand(INFER_BATCH, 1, 28, 28)
        else:
            x = torch.rand(INFER_BATCH, 3, 32, 32)

        def step():
            with torch.inference_mode():
                model(x)

        t = time_steps(step, INFER_BATCH, self.windows)
        return dict(unit="images/s", value=t["median"], timing=t)

    def conv(self, backward):
        torch = self.torch
        F = torch.nn.functional
        c = CONV
        g = torch.Generator().manual_seed(13)
        x = torch.rand(c["n"], c["c"], c["h"], c["w"], generator=g) * 2 - 1
        w = torch.rand(c["k"], c["c"], c["kernel"], c["kernel"], generator=g) * 2 - 1
        dy = torch.rand(c["n"], c["k"], c["h"], c["w"], generator=g) * 2 - 1
        pad = c["kernel"] // 2
        flops = 2 * c["n"] * c["h"] * c["w"] * c["k"] * c["kernel"] ** 2 * c["c"]
        if backward:
            x.requires_grad_(True)
            w.requires_grad_(True)

            def step():
                x.grad = None
                w.grad = None
                F.conv2d(x, w, padding=pad).backward(dy)  # forward, then grad input and grad weight

            flops *= 3
        else:
            def step():
                with torch.inference_mode():
                    F.conv2d(x, w, padding=pad)

        t = time_steps(step, flops, self.windows)
        return dict(unit="GFLOP/s", value=t["median"] / 1e9, timing=t)

    def table(self):
        return {
            "train.lenet5": lambda: self.train("lenet5"),
            "train.convnetm": lambda: self.train("convnetm"),
            "train.resnet8": lambda: self.train("resnet8"),
            "infer.lenet5": lambda: self.infer("lenet5"),
            "infer.convnetm": lambda: self.infer("convnetm"),
            "infer.resnet8": lambda: self.infer("resnet8"),
            "conv.fwd": lambda: self.conv(False),
            "conv.fwdbwd": lambda: self.conv(True),
        }


def blas_library():
    """The BLAS shared objects this process loaded (numpy links libblas.so.3, an alternatives link)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
        return sorted({os.path.realpath(p) for p in paths if p.startswith("/")})
    except OSError:
        return []


def openblas_config(paths):
    """OpenBLAS's build string, thread count and core name, when the loaded BLAS is OpenBLAS."""
    import ctypes
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
            for name in ("openblas_get_config", "openblas_get_corename"):
                getattr(lib, name).restype = ctypes.c_char_p
            return dict(library=p, config=lib.openblas_get_config().decode(), core=lib.openblas_get_corename().decode(),
                        threads=lib.openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return None


def numpy_sgemm(np, n, windows):
    rng = np.random.default_rng(11)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    t = time_steps(lambda: a @ b, 2 * n ** 3, windows)
    return dict(unit="GFLOP/s", value=t["median"] / 1e9, timing=t)


def run_table(only, table):
    for ident in only:
        fn = table.get(ident)
        sys.stderr.write("    %s ...\n" % ident)
        sys.stderr.flush()
        if fn is None:
            emit("ERROR", dict(id=ident, error="unknown measurement '%s'" % ident))
            continue
        try:
            result = fn()
            result["id"] = ident
            emit("RESULT", result)
        except Exception as err:  # report and go on with the next measurement
            emit("ERROR", dict(id=ident, error="%s: %s" % (type(err).__name__, err)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["torch", "numpy", "export"], required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--data", default=None)
    parser.add_argument("--onnx", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s]
    windows = QUICK if args.quick else FULL

    if args.mode == "numpy":
        import numpy as np
        libs = blas_library()
        emit("INFO", dict(numpy=np.__version__, python=sys.version.split()[0], blas=libs, openblas=openblas_config(libs),
                          env={k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}))
        run_table(only, {"sgemm.%d" % n: (lambda n=n: numpy_sgemm(np, n, windows)) for n in (256, 512, 1024)})
        return

    import torch
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    emit("INFO", dict(torch=torch.__version__, python=sys.version.split()[0], threads=torch.get_num_threads(),
                      mkldnn=torch.backends.mkldnn.is_available(), capability=torch.backends.cpu.get_cpu_capability()
                      if hasattr(torch.backends, "cpu") else None))

    if args.mode == "export":
        def export():
            torch.manual_seed(1)
            model = torch_models(torch)["lenet5"]().eval()
            os.makedirs(os.path.dirname(args.onnx), exist_ok=True)
            if os.path.exists(args.onnx):
                os.remove(args.onnx)
            torch.onnx.export(model, torch.rand(INFER_BATCH, 1, 28, 28), args.onnx, input_names=["x"],
                              output_names=["logits"], opset_version=13)
            return dict(path=args.onnx, bytes=os.path.getsize(args.onnx), input=[INFER_BATCH, 1, 28, 28])

        run_table(["onnx.export"], {"onnx.export": export})
        return

    run_table(only, TorchBench(torch, args, windows).table())


if __name__ == "__main__":
    main()
