#!/usr/bin/env python3
"""Data-parallel training on this machine: figures, not a test.

    tools/bench/mpi.py accuracy [--steps N]
        the final test accuracy of CONFIG (default configs/lstm_mnist.yaml,
        1200 steps) as one process and on 2 ranks, and their difference
    tools/bench/mpi.py steps [--ranks 1,2,4] [--runs 3] [--steps 300]
        the training time a step, and the part of it in the gradient
        allreduce (waiting for the slowest rank included), as graphrun train
        prints them, for each rank count: medians of RUNS runs, the rank
        counts alternating within a round so that the machine's drifts hit
        each alike
    tools/bench/mpi.py allreduce [--floats N,...]
        the median time of one in-place MPI_Allreduce of N floats on 2 ranks
        (tools/bench/allreduce.c), after a barrier
    tools/bench/mpi.py model
        the cost model's predicted speedup (docs/distributed.md) for 2-64
        hosts on 10 and 100 Gb/s links, for the models of MODELS below

Common options: --config FILE, --graphrun PATH, --set PATH=VALUE (repeatable).
Runs mpirun with --oversubscribe and, as root, OMPI_ALLOW_RUN_AS_ROOT.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def train(args, ranks, extra):
    cmd = [args.graphrun, "train", args.config, "--no-run-dir", "--quiet"] + extra
    for s in args.set:
        cmd += ["--set", s]
    if ranks > 1:
        cmd = ["mpirun", "-q", "--oversubscribe", "-np", str(ranks)] + cmd
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.stdout


def accuracy(args):
    extra = ["--set", "train.steps=%d" % args.steps] if args.steps else []
    got = {}
    for ranks in (1, 2):
        out = train(args, ranks, extra)
        got[ranks] = float(re.search(r"^test accuracy \(all .*\): (\S+)$", out, re.M).group(1))
        print("%d rank%s: test accuracy %.4f" % (ranks, "" if ranks == 1 else "s", got[ranks]), flush=True)
    print("difference: %.4f" % abs(got[2] - got[1]))


def steps(args):
    ranks = [int(r) for r in args.ranks.split(",")]
    extra = ["--set", "train.steps=%d" % (args.steps or 300), "--set", "eval.every=1000000"]
    ms, comm = {r: [] for r in ranks}, {r: [] for r in ranks}
    for _ in range(args.runs):
        for r in ranks:
            out = train(args, r, extra)
            m = re.search(r"([\d.]+) ms a step(?: of which allreduce ([\d.]+) ms)?", out)
            ms[r].append(float(m.group(1)))
            comm[r].append(float(m.group(2) or 0))
    print("ranks  ms a step  allreduce  compute (the rest)   (medians of %d runs)" % args.runs)
    for r in ranks:
        a, c = statistics.median(ms[r]), statistics.median(comm[r])
        print("%5d  %9.2f  %9.2f  %9.2f" % (r, a, c, a - c))


def allreduce(args):
    prog = os.path.join(os.path.dirname(args.graphrun), "bench_allreduce")
    for n in args.floats.split(","):
        p = subprocess.run(["mpirun", "-q", "--oversubscribe", "-np", "2", prog, n, "200"], env=ENV,
                           capture_output=True, text=True)
        print(p.stdout.strip() or p.stderr.strip(), flush=True)


# name, parameters (floats summed a step), compute of one step on one host
# (ms; measured here, see docs/distributed.md)
MODELS = [("reference LSTM", 24458, 1.63), ("CNN (issue 11)", 467818, 620.0),
          ("100x reference", 2445800, 163.0)]
# link: bytes a second, latency of one message (s)
LINKS = [("10 Gb/s", 1.25e9, 20e-6), ("100 Gb/s", 12.5e9, 3e-6)]


def step_time(compute, floats, hosts, bandwidth, latency):
    """compute / N + ring allreduce: 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency."""
    if hosts == 1:
        return compute
    return compute / hosts + 2.0 * (hosts - 1) / hosts * 4.0 * floats / bandwidth + 2 * (hosts - 1) * latency


def model(args):
    hosts = [2, 4, 8, 16, 32, 64]
    print("| model | link | " + " | ".join("%d hosts" % n for n in hosts) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in hosts) + " |")
    for name, floats, ms in MODELS:
        for link, bw, lat in LINKS:
            t1 = ms / 1e3
            cells = ["%.1f" % (t1 / step_time(t1, floats, n, bw, lat)) for n in hosts]
            print("| %s | %s | %s |" % (name, link, " | ".join(cells)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["accuracy", "steps", "allreduce", "model"])
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "lstm_mnist.yaml"))
    ap.add_argument("--graphrun", default=os.path.join(ROOT, "build", "graphrun"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--floats", default="24458,1000000,4300800")
    args = ap.parse_args()
    {"accuracy": accuracy, "steps": steps, "allreduce": allreduce, "model": model}[args.what](args)


if __name__ == "__main__":
    main()
