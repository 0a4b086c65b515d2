"""graphrun against PyTorch on one model, in one run on one machine.

--model lstm (the default model, configs/lstm_mnist.yaml, against
tools/bench/torch_lstm.py) or cnn (configs/cnn_mnist.yaml, the CNN with
batch normalisation and dropout, against tools/bench/torch_cnn.py, the same
network in PyTorch). For each of --runs rounds it times, for each batch of
--batches (64 and 256):
  graphrun bench (every core), and the PyTorch reference with 1 and 2
  threads (OPENBLAS_NUM_THREADS=1, so PyTorch's threads and OpenBLAS's do not
  fight); PyTorch is credited with its faster thread setting;
the tools alternate, so a machine's changing load falls on both. Then, once,
the peak RSS of the model's training run (graphrun train CONFIG). Prints a
table of medians and graphrun/PyTorch ratios. --limit N trains on the first
N images only (both tools), for a shorter epoch on a busy machine. Usage
(after tools/setup.sh; tools/bench/run.sh does both):

    /usr/bin/python3 tools/bench/bench.py [--model lstm|cnn] [--runs 3] [--batches 64,256] [--limit N]
                                          [--eval-repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GRAPHRUN = os.path.join(ROOT, "build", "graphrun")
MODELS = {
    "lstm": (os.path.join(ROOT, "configs", "lstm_mnist.yaml"), os.path.join(ROOT, "tools", "bench", "torch_lstm.py")),
    "cnn": (os.path.join(ROOT, "configs", "cnn_mnist.yaml"), os.path.join(ROOT, "tools", "bench", "torch_cnn.py")),
}


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
    ap.add_argument("--model", choices=sorted(MODELS), default="lstm")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batches", default="64,256", help="comma-separated batch sizes; the first is the table's main one")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (0: all)")
    ap.add_argument("--eval-repeats", type=int, default=3, help="timed evaluations of the test set, each tool")
    args = ap.parse_args()
    config, torch_script = MODELS[args.model]
    batches = [int(b) for b in args.batches.split(",")]
    limit_g = ["--set", "data.train.limit=%d" % args.limit] if args.limit else []
    limit_t = ["--limit", str(args.limit)] if args.limit else []
    repeats = ["--eval-repeats", str(args.eval_repeats)]
    if not os.access(GRAPHRUN, os.X_OK):
        sys.exit("bench: build/graphrun is missing; run tools/setup.sh first")

    torch_env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    data = os.path.join(ROOT, "data", "mnist")
    res = {}  # (tool, batch, threads) -> list of results
    for r in range(args.runs):
        for batch in batches:
            print(f"run {r + 1}/{args.runs}, batch {batch}: graphrun", end="", flush=True)
            g = last_json([GRAPHRUN, "bench", config, "--batch", str(batch), "--json"] + limit_g + repeats)
            res.setdefault(("graphrun", batch, g["threads"]), []).append(g)
            for threads in (1, 2):
                print(f", pytorch x{threads}", end="", flush=True)
                t = last_json(["/usr/bin/python3", torch_script, "--data", data, "--batch", str(batch),
                               "--threads", str(threads)] + limit_t + repeats, env=torch_env)
                res.setdefault(("pytorch", batch, threads), []).append(t)
            print()
    print("peak RSS of the training run ...", flush=True)
    # a few hundred steps reach the peak; the CNN's three epochs would take long
    short = ["--unset", "train.epochs", "--set", "train.steps=300"] if args.model == "cnn" else []
    rss_graphrun = peak_rss_mb([GRAPHRUN, "train", config, "--no-run-dir"] + limit_g + short)

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

    g = {b: summary("graphrun", b) for b in batches}
    t = {b: summary("pytorch", b) for b in batches}
    b0 = batches[0]
    # the same model, so the same count of operations for both
    rows = [(f"epoch, batch {b} (s)", g[b]["epoch"], t[b]["epoch"]) for b in batches]
    rows += [
        (f"step, batch {b0} (ms)", g[b0]["step_ms"], t[b0]["step_ms"]),
        ("test set, 10000 images (s)", min(g[b]["eval"] for b in batches), min(t[b]["eval"] for b in batches)),
        ("peak RSS, training (MB)", rss_graphrun, t[b0]["rss"]),
    ]
    rows += [(f"GFLOP/s, batch {b}", g[b]["gflop"] / g[b]["epoch"], g[b]["gflop"] / t[b]["epoch"]) for b in batches]
    rows.append((f"accuracy after 1 epoch, batch {b0}", g[b0]["acc"], t[b0]["acc"]))
    print()
    settings = ", ".join(f"{t[b]['threads']} at batch {b}" for b in batches)
    print(f"{args.model}: medians of {args.runs} runs; graphrun with {g[b0]['threads']} threads, PyTorch with its "
          f"faster setting ({settings}); {g[b0]['gflop']:.1f} GFLOP an epoch"
          + (f" of {args.limit} images" if args.limit else ""))
    print(f"| {'':34} | {'graphrun':>10} | {'PyTorch':>10} | {'ratio':>6} |")
    print(f"| {'-' * 34} | {'-' * 10} | {'-' * 10} | {'-' * 6} |")
    for name, a, b in rows:
        fmt = "{:>10.4f}" if a < 10 else "{:>10.1f}"
        print(f"| {name:34} | {fmt.format(a)} | {fmt.format(b)} | {a / b:>6.3f} |")

if __name__ == "__main__":
    main()
