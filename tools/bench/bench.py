"""graphrun against PyTorch on the default model, in one run on one machine.

For each of --runs rounds it times, for batch 64 and 256:
  graphrun bench (every core), and the PyTorch reference with 1 and 2
  threads (OPENBLAS_NUM_THREADS=1, so PyTorch's threads and OpenBLAS's do not
  fight); PyTorch is credited with its faster thread setting.
and, once, the peak RSS of the default training run (graphrun train
configs/lstm_mnist.yaml). Prints a table of medians and graphrun/PyTorch
ratios. Usage (after tools/setup.sh; tools/bench/run.sh does both):

    /usr/bin/python3 tools/bench/bench.py [--runs 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GRAPHRUN = os.path.join(ROOT, "build", "graphrun")
CONFIG = os.path.join(ROOT, "configs", "lstm_mnist.yaml")
TORCH = os.path.join(ROOT, "tools", "bench", "torch_lstm.py")


def last_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit("bench: no result from " + " ".join(cmd) + ":\n" + out)
    return json.loads(lines[-1])


def peak_rss_mb(cmd):
    """Run cmd and return its peak resident set in MB (from wait4)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit("bench: failed: " + " ".join(cmd))
    return usage.ru_maxrss / 1024.0


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not os.access(GRAPHRUN, os.X_OK):
        sys.exit("bench: build/graphrun is missing; run tools/setup.sh first")

    torch_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    data = os.path.join(ROOT, "data", "mnist")
    res = {}  # (tool, batch, threads) -> list of results
    for r in range(args.runs):
        for batch in (64, 256):
            print(f"run {r + 1}/{args.runs}, batch {batch}: graphrun", end="", flush=True)
            g = last_json([GRAPHRUN, "bench", CONFIG, "--batch", str(batch), "--json"])
            res.setdefault(("graphrun", batch, g["threads"]), []).append(g)
            for threads in (1, 2):
                print(f", pytorch x{threads}", end="", flush=True)
                t = last_json(["/usr/bin/python3", TORCH, "--data", data, "--batch", str(batch), "--threads", str(threads)],
                              env=torch_env)
                res.setdefault(("pytorch", batch, threads), []).append(t)
            print()
    print("peak RSS of the default training run ...", flush=True)
    rss_graphrun = peak_rss_mb([GRAPHRUN, "train", CONFIG])

    def summary(tool, batch):
        """medians for the tool's fastest thread setting at this batch"""
        best = None
        for (t, b, threads), runs in res.items():
            if t != tool or b != batch:
                continue
            s = {
                "threads": threads,
                "epoch": med([x["epoch_median"] for x in runs]),
                "step_ms": med([x["step_ms"] for x in runs]),
                "eval": med([x["eval_seconds"] for x in runs]),
                "acc": med([x["accuracy"] for x in runs]),
                "rss": med([x["peak_rss_mb"] for x in runs]),
            }
            if "train_gflop_per_epoch" in runs[0]:
                s["gflop"] = runs[0]["train_gflop_per_epoch"]
            if best is None or s["epoch"] < best["epoch"]:
                best = s
        return best

    g64, t64 = summary("graphrun", 64), summary("pytorch", 64)
    g256, t256 = summary("graphrun", 256), summary("pytorch", 256)
    # the same model, so the same count of operations for both
    gflop64, gflop256 = g64["gflop"], g256["gflop"]
    rows = [
        ("epoch, batch 64 (s)", g64["epoch"], t64["epoch"]),
        ("epoch, batch 256 (s)", g256["epoch"], t256["epoch"]),
        ("step, batch 64 (ms)", g64["step_ms"], t64["step_ms"]),
        ("test set, 10000 images (s)", min(g64["eval"], g256["eval"]), min(t64["eval"], t256["eval"])),
        ("peak RSS, training (MB)", rss_graphrun, t64["rss"]),
        ("GFLOP/s, batch 64", gflop64 / g64["epoch"], gflop64 / t64["epoch"]),
        ("GFLOP/s, batch 256", gflop256 / g256["epoch"], gflop256 / t256["epoch"]),
        ("accuracy after 1 epoch, batch 64", g64["acc"], t64["acc"]),
    ]
    print()
    print(f"medians of {args.runs} runs; graphrun with {g64['threads']} threads, PyTorch with its faster setting "
          f"({t64['threads']} at batch 64, {t256['threads']} at batch 256); {gflop64:.1f} GFLOP an epoch")
    print(f"| {'':34} | {'graphrun':>10} | {'PyTorch':>10} | {'ratio':>6} |")
    print(f"| {'-' * 34} | {'-' * 10} | {'-' * 10} | {'-' * 6} |")
    for name, a, b in rows:
        fmt = "{:>10.4f}" if a < 10 else "{:>10.1f}"
        print(f"| {name:34} | {fmt.format(a)} | {fmt.format(b)} | {a / b:>6.3f} |")


if __name__ == "__main__":
    main()
