"""The benchmark's reference for the CNN: configs/cnn_mnist.yaml in PyTorch.

Same data, same network: conv 32 3x3 (same padding), batch norm, relu, max
pool 2; conv 64 3x3, batch norm, relu, max pool 2; dense 128, relu, dropout
0.4, dense 10; softmax cross-entropy, Adam 0.001. PyTorch's own layout
(NCHW, which its CPU kernels prefer); graphrun's initialisation (He-normal
kernels for the convolutions and the hidden layer, Glorot-uniform for the
logits, zero biases, batch norm's momentum 0.9 as graphrun counts it, 0.1 as
PyTorch does); full batches drawn from a reshuffled permutation as graphrun
does. Prints one JSON line with the same fields as `graphrun bench --json`.

    /usr/bin/python3 tools/bench/torch_cnn.py --batch 64 --threads 2 [--limit N]

Run it with OPENBLAS_NUM_THREADS=1: PyTorch's own threads and OpenBLAS's
otherwise fight over the cores.
"""
import argparse
import json
import resource
import time

import numpy as np
import torch

from torch_lstm import read_idx


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(32, eps=1e-5, momentum=0.1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(64, eps=1e-5, momentum=0.1)
        self.hidden = torch.nn.Linear(7 * 7 * 64, 128)
        self.drop = torch.nn.Dropout(0.4)
        self.logits = torch.nn.Linear(128, 10)
        with torch.no_grad():
            for layer in (self.conv1, self.conv2, self.hidden):
                torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                layer.bias.zero_()
            torch.nn.init.xavier_uniform_(self.logits.weight)
            self.logits.bias.zero_()

    def forward(self, x):
        pool = torch.nn.functional.max_pool2d
        x = pool(torch.relu(self.bn1(self.conv1(x))), 2)
        x = pool(torch.relu(self.bn2(self.conv2(x))), 2)
        x = torch.relu(self.hidden(x.flatten(1)))
        return self.logits(self.drop(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    d = args.data
    xtr = torch.tensor(read_idx(d + "/train-images-idx3-ubyte").reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    ytr = torch.tensor(read_idx(d + "/train-labels-idx1-ubyte").astype(np.int64))
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    xte = torch.tensor(read_idx(d + "/t10k-images-idx3-ubyte").reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    yte = torch.tensor(read_idx(d + "/t10k-labels-idx1-ubyte").astype(np.int64))

    model = Model()
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    n = xtr.shape[0]
    per_epoch = (n + args.batch - 1) // args.batch
    order, pos = rng.permutation(n), 0
    epoch_seconds = []
    model.train()
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        for _ in range(per_epoch):
            take = min(args.batch, n - pos)  # cross into a reshuffled epoch as graphrun does
            idx = order[pos:pos + take]
            pos += take
            if take < args.batch:
                order, pos = rng.permutation(n), args.batch - take
                idx = np.concatenate([idx, order[:pos]])
            i = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(model(xtr[i]), ytr[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch_seconds.append(time.perf_counter() - t0)

    # evaluation in batches of 1000 and 500; the faster counts
    model.eval()
    eval_seconds = []
    with torch.no_grad():
        for _ in range(args.eval_repeats):
            best = None
            for chunk in (1000, 500):
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
        "tool": "pytorch", "batch": args.batch, "threads": args.threads, "steps_per_epoch": per_epoch,
        "epoch_seconds": [round(x, 4) for x in epoch_seconds], "epoch_median": round(epoch_med, 4),
        "step_ms": round(1e3 * epoch_med / per_epoch, 4), "eval_seconds": round(eval_seconds[len(eval_seconds) // 2], 5),
        "accuracy": round(acc, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }))


if __name__ == "__main__":
    main()
