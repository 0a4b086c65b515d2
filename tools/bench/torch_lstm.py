"""The benchmark's reference: graphrun's default model in PyTorch.

Same data, same model (LSTM 64 over 28 rows of 28 pixels, the last step's
output, dense to 10, softmax cross-entropy, Adam 0.01), TensorFlow's
initialisation (one Glorot-uniform kernel over [I + H, 4H], zero biases,
forget-gate bias 1), full batches drawn from a reshuffled permutation as
graphrun does. Prints one JSON line with the same fields as
`graphrun bench --json`.

    /usr/bin/python3 tools/bench/torch_lstm.py --batch 64 --threads 2 [--units 64] [--limit N] [--test-limit N]

--units changes the LSTM's width, --limit keeps the first N training images
(an "epoch" is then N images, as graphrun's data.train.limit), --test-limit
the first N test images; --cells U:B:N,... runs several widths, batches and
limits in one process (one JSON line each), loading the data once.

Run it with OPENBLAS_NUM_THREADS=1: PyTorch's own threads and OpenBLAS's
otherwise fight over the cores.
"""
import argparse
import json
import resource
import struct
import time

import numpy as np
import torch

from torch_epochs import train_epochs


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)


class Model(torch.nn.Module):
    def __init__(self, units=64):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, units, batch_first=True)
        self.fc = torch.nn.Linear(units, 10)
        kernel = torch.empty(28 + units, 4 * units)
        torch.nn.init.xavier_uniform_(kernel)
        with torch.no_grad():
            self.lstm.weight_ih_l0.copy_(kernel[:28].t())
            self.lstm.weight_hh_l0.copy_(kernel[28:].t())
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_hh_l0.zero_()
            self.lstm.bias_hh_l0[units:2 * units] = 1.0  # gate order i, f, g, o
            torch.nn.init.xavier_uniform_(self.fc.weight)
            self.fc.bias.zero_()

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--cells", default="",
                    help="UNITS:BATCH:LIMIT,... : run each in this process (data loaded once), one JSON line each")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    d = args.data
    xtr = torch.tensor(read_idx(d + "/train-images-idx3-ubyte").reshape(-1, 28, 28) / 255.0, dtype=torch.float32)
    ytr = torch.tensor(read_idx(d + "/train-labels-idx1-ubyte").astype(np.int64))
    xte = torch.tensor(read_idx(d + "/t10k-images-idx3-ubyte").reshape(-1, 28, 28) / 255.0, dtype=torch.float32)
    yte = torch.tensor(read_idx(d + "/t10k-labels-idx1-ubyte").astype(np.int64))
    if args.test_limit:
        xte, yte = xte[:args.test_limit], yte[:args.test_limit]
    cells = [tuple(int(v) for v in c.split(":")) for c in args.cells.split(",") if c]
    for units, batch, limit in cells or [(args.units, args.batch, args.limit)]:
        x, y = (xtr[:limit], ytr[:limit]) if limit else (xtr, ytr)
        run(args, units, batch, x, y, xte, yte)


def run(args, units, batch, xtr, ytr, xte, yte):
    """Train for --epochs on (xtr, ytr), evaluate on (xte, yte), print one JSON line."""
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = Model(units)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    n = xtr.shape[0]
    per_epoch = (xtr.shape[0] + batch - 1) // batch
    epoch_seconds = train_epochs(model, opt, xtr, ytr, batch, args.epochs, rng)

    # evaluation: the whole test set in one batch, and in batches of 1000; the faster counts
    eval_seconds = []
    with torch.no_grad():
        for _ in range(args.eval_repeats):
            best = None
            for chunk in (xte.shape[0], 1000):
                t0 = time.perf_counter()
                correct = 0
                for s in range(0, xte.shape[0], chunk):
                    correct += (model(xte[s:s + chunk]).argmax(1) == yte[s:s + chunk]).sum().item()
                dt = time.perf_counter() - t0
                best = dt if best is None or dt < best else best
            eval_seconds.append(best)
    acc = correct / xte.shape[0]
    epoch_seconds.sort()
    eval_seconds.sort()
    epoch_med = epoch_seconds[len(epoch_seconds) // 2]
    print(json.dumps({
        "tool": "pytorch", "batch": batch, "threads": args.threads, "units": units, "samples": n, "steps_per_epoch": per_epoch,
        "epoch_seconds": [round(x, 4) for x in epoch_seconds], "epoch_median": round(epoch_med, 4),
        "step_ms": round(1e3 * epoch_med / per_epoch, 4), "eval_seconds": round(eval_seconds[len(eval_seconds) // 2], 5),
        "accuracy": round(acc, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
