"""The benchmark's CNN reference: the network a graphrun config declares, built
in PyTorch (NCHW, as PyTorch prefers) and trained the way graphrun trains it.

It reads the config's graph as a chain (each node takes the one before it;
the loss node's inputs are the logits and the labels) and knows the ops an
image classifier uses: input, reshape (to [H, W, C]), conv2d (filters,
kernel_size, strides, padding valid or same; an optional activation),
batch_norm, relu, max_pool2d, avg_pool2d, flatten, dense (units; an
optional activation), dropout and softmax_cross_entropy. Adam with the
config's learning rate, full batches from a reshuffled permutation. Prints
one JSON line with the same fields as `graphrun bench --json`.

    /usr/bin/python3 tools/bench/torch_cnn.py CONFIG --batch 64 --threads 2 [--limit N] [--test-limit N]
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

from torch_epochs import train_epochs
import yaml

from torch_lstm import read_idx


def pair(v):
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def activation(node):
    act = node.get("activation")
    if act in (None, "none", "linear"):
        return []
    if act == "relu":
        return [torch.nn.ReLU()]
    sys.exit(f"torch_cnn: activation {act!r} is not supported")


def build(graph):
    """A torch.nn.Sequential from the chain of nodes (images in as [B, C, H, W])."""
    layers, shape = [], None  # shape: [C, H, W] or [F]
    for node in graph:
        op = node["op"]
        if op == "input":
            continue
        if op == "softmax_cross_entropy":
            break
        if op == "reshape":
            h, w, c = node["shape"]
            shape = [c, h, w]
        elif op == "conv2d":
            kh, kw = pair(node["kernel_size"])
            sh, sw = pair(node.get("strides", [1]))
            pad = node.get("padding", "valid")
            if pad == "same" and (sh, sw) != (1, 1):
                sys.exit("torch_cnn: same padding with strides is not supported")
            conv = torch.nn.Conv2d(shape[0], node["filters"], (kh, kw), (sh, sw), padding=pad)
            layers += [conv] + activation(node)
            with torch.no_grad():
                shape = list(conv(torch.zeros(1, *shape)).shape[1:])
        elif op == "batch_norm":
            layers += [torch.nn.BatchNorm2d(shape[0]) if len(shape) == 3 else torch.nn.BatchNorm1d(shape[0])]
            layers += activation(node)
        elif op == "relu":
            layers.append(torch.nn.ReLU())
        elif op in ("max_pool2d", "avg_pool2d"):
            size = pair(node.get("size", [2, 2]))
            strides = pair(node.get("strides", list(size)))
            pool = (torch.nn.MaxPool2d if op == "max_pool2d" else torch.nn.AvgPool2d)(size, strides)
            layers.append(pool)
            shape = [shape[0], (shape[1] - size[0]) // strides[0] + 1, (shape[2] - size[1]) // strides[1] + 1]
        elif op == "flatten":
            layers.append(torch.nn.Flatten())
            shape = [int(np.prod(shape))]
        elif op == "dense":
            layers += [torch.nn.Linear(shape[0], node["units"])] + activation(node)
            shape = [node["units"]]
        elif op == "dropout":
            layers.append(torch.nn.Dropout(node.get("rate", 0.5)))
        else:
            sys.exit(f"torch_cnn: op {op!r} is not supported")
    return torch.nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--test-limit", type=int, default=0)
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = yaml.safe_load(f)
    batch = args.batch or cfg["train"]["batch_size"]
    lr = cfg["train"]["optimizer"].get("lr", 0.001)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    d = args.data
    xtr = torch.tensor(read_idx(d + "/train-images-idx3-ubyte").reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    ytr = torch.tensor(read_idx(d + "/train-labels-idx1-ubyte").astype(np.int64))
    xte = torch.tensor(read_idx(d + "/t10k-images-idx3-ubyte").reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    yte = torch.tensor(read_idx(d + "/t10k-labels-idx1-ubyte").astype(np.int64))
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    if args.test_limit:
        xte, yte = xte[:args.test_limit], yte[:args.test_limit]

    model = build(cfg["graph"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    per_epoch = (xtr.shape[0] + batch - 1) // batch
    epoch_seconds = train_epochs(model, opt, xtr, ytr, batch, args.epochs, rng)

    model.eval()
    eval_seconds = []
    eval_batch = (cfg.get("eval") or {}).get("batch_size", 1000)
    with torch.no_grad():
        for _ in range(args.eval_repeats):
            t0 = time.perf_counter()
            correct = 0
            for s in range(0, xte.shape[0], eval_batch):
                correct += (model(xte[s:s + eval_batch]).argmax(1) == yte[s:s + eval_batch]).sum().item()
            eval_seconds.append(time.perf_counter() - t0)
    epoch_seconds.sort()
    eval_seconds.sort()
    epoch_med = epoch_seconds[len(epoch_seconds) // 2]
    print(json.dumps({
        "tool": "pytorch", "config": os.path.basename(args.config), "batch": batch, "threads": args.threads,
        "steps_per_epoch": per_epoch, "epoch_seconds": [round(x, 4) for x in epoch_seconds],
        "epoch_median": round(epoch_med, 4), "step_ms": round(1e3 * epoch_med / per_epoch, 4),
        "eval_seconds": round(eval_seconds[len(eval_seconds) // 2], 5), "accuracy": round(correct / xte.shape[0], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }))


if __name__ == "__main__":
    main()
