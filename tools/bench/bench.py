"""graphrun against PyTorch, in one run on one machine: the whole table.

Sections, each a median of --runs rounds (runs being compared alternate
within a round, so drifts in the machine's speed hit both alike):

  peak       the fp32 peak: build/gemm_bench measures one core's FMA
             throughput (CPU time) and multiplies by the CPUs graphrun may
             use; it also times the step's products on one thread.
  reference  the default model (configs/lstm_mnist.yaml), one whole epoch at
             batch 64 and at batch 256, and the 10,000 test images; PyTorch
             (tools/bench/torch_lstm.py) with 1 and 2 threads in the first
             round, then with the faster of the two. graphrun's two
             batches run back to back, and batch 256 against 64 is the
             median of each round's ratio.
  grid       LSTM units 32, 64, 128, 256 by batch 32, 64, 256: GFLOP/s and
             share of the peak for each cell, on the first N training images
             (N such that an epoch is about --grid-gflop GFLOP, at least 8
             batches of 256), --grid-epochs epochs a cell and their median
             (the first pays what a run pays once: page faults, packing,
             threads starting; at 256 units an epoch is 8 steps), PyTorch
             likewise, with the thread setting that won the reference row
             of that batch (batch 32: batch 64's), its cells run in one
             process. A batch's widths run back to back, from a different
             one each round, and each width against 64 units is the median
             of each round's ratio.
  cnn        the CNN of --cnn CONFIG (tools/bench/cnn_mnist.yaml unless
             given), on the first --cnn-samples training images (3200: 50
             steps at batch 64, enough that one slow minute moves the
             median less), projected to an epoch; PyTorch builds the same net from the same config
             (tools/bench/torch_cnn.py), with 1 and 2 threads in the first
             round and the faster after. --baseline GRAPHRUN times another
             build (say, one of the commit before) in the same rounds.
  load       a busy loop (started and stopped here) takes one core: graphrun
             with its default threads against 1 thread and 8 threads, and
             without it 8 threads against 2; --load-steps steps each.

Prints markdown tables; --json FILE writes every figure (for comparing
commits), --plot FILE draws GFLOP/s by shape for both with gnuplot (PNG).
Operations are counted from the graph (`graphrun bench` reports them) and
used for both tools. Usage (after tools/setup.sh; tools/bench/run.sh does
both):

    /usr/bin/python3 tools/bench/bench.py [--runs 3] [--cnn CONFIG] [--json FILE] [--plot FILE] [--skip SECTION,...]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GRAPHRUN = os.path.join(ROOT, "build", "graphrun")
GEMM_BENCH = os.path.join(ROOT, "build", "gemm_bench")
CONFIG = os.path.join(ROOT, "configs", "lstm_mnist.yaml")
CNN = os.path.join(ROOT, "tools", "bench", "cnn_mnist.yaml")
TORCH_LSTM = os.path.join(ROOT, "tools", "bench", "torch_lstm.py")
TORCH_CNN = os.path.join(ROOT, "tools", "bench", "torch_cnn.py")
DATA = os.path.join(ROOT, "data", "mnist")
UNITS = (32, 64, 128, 256)
BATCHES = (32, 64, 256)
TORCH_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def all_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("bench: failed: " + " ".join(cmd) + "\n" + r.stderr)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit("bench: no result from " + " ".join(cmd) + ":\n" + r.stdout)
    return [json.loads(l) for l in lines]


def last_json(cmd, env=None):
    return all_json(cmd, env)[-1]


def med(xs):
    return statistics.median(xs)


def graphrun(config, *extra):
    return last_json([GRAPHRUN, "bench", config, "--json", *extra])


def limits(train, test):
    """overrides keeping the first `train` training and `test` test images"""
    return ["--set", f"data.train.limit={train}", "--set", f"data.test.limit={test}", "--set",
            f"eval.samples={min(test, 1000)}"]


def torch_lstm(batch, threads, *extra):
    return last_json(["/usr/bin/python3", TORCH_LSTM, "--data", DATA, "--batch", str(batch), "--threads", str(threads),
                      *extra], env=TORCH_ENV)


def note(msg):
    print(msg, flush=True)


def peak_section():
    """gemm_bench with the OpenBLAS kernels graphrun runs (it picks them at start: `graphrun --version`)"""
    note("peak: build/gemm_bench")
    version = subprocess.run([GRAPHRUN, "--version"], capture_output=True, text=True).stdout
    env = dict(os.environ)
    if "(kernels for " in version:
        env.setdefault("OPENBLAS_CORETYPE", version.split("(kernels for ")[1].split(")")[0])
    return last_json([GEMM_BENCH, "--json"], env=env)


def reference_section(runs):
    res = {}
    settings = {64: (1, 2), 256: (1, 2)}  # PyTorch: both in the first round, then the faster
    for r in range(runs):
        # graphrun's two batches back to back, in turn first, so that their
        # ratio compares the same minute of the machine
        for batch in ((64, 256) if r % 2 == 0 else (256, 64)):
            note(f"reference, round {r + 1}/{runs}: graphrun, batch {batch}")
            res.setdefault(("graphrun", batch), []).append(graphrun(CONFIG, "--batch", str(batch)))
        for batch in (64, 256):
            note(f"reference, round {r + 1}/{runs}: PyTorch, batch {batch}")
            for threads in settings[batch]:
                res.setdefault(("pytorch", batch, threads), []).append(torch_lstm(batch, threads))
            if r == 0:
                first = {th: res[("pytorch", batch, th)][0]["epoch_median"] for th in settings[batch]}
                settings[batch] = (min(first, key=first.get),)
    b64, b256 = res[("graphrun", 64)], res[("graphrun", 256)]
    out = {"256_vs_64": med([a["epoch_median"] / b["epoch_median"] for a, b in zip(b256, b64)])}
    for batch in (64, 256):
        g = res[("graphrun", batch)]
        best = None
        for threads in settings[batch]:
            t = res[("pytorch", batch, threads)]
            s = {"threads": threads, "epoch": med([x["epoch_median"] for x in t]),
                 "eval": med([x["eval_seconds"] for x in t]), "acc": med([x["accuracy"] for x in t]),
                 "rss": med([x["peak_rss_mb"] for x in t]), "step_ms": med([x["step_ms"] for x in t])}
            if best is None or s["epoch"] < best["epoch"]:
                best = s
        out[batch] = {
            "graphrun": {"threads": g[0]["threads"], "epoch": med([x["epoch_median"] for x in g]),
                         "eval": med([x["eval_seconds"] for x in g]), "acc": med([x["accuracy"] for x in g]),
                         "rss": med([x["peak_rss_mb"] for x in g]), "step_ms": med([x["step_ms"] for x in g]),
                         "gflop": g[0]["train_gflop_per_epoch"], "eval_gflop": g[0]["eval_gflops"] * g[0]["eval_seconds"],
                         "rounds": [x["epoch_median"] for x in g]},
            "pytorch": best,
        }
    return out


def grid_section(runs, torch_threads, grid_gflop, epochs):
    cells = {}
    for units in UNITS:
        # operations a sample, forward and backward, for this width (from graphrun, at batch 64)
        probe = graphrun(CONFIG, "--set", f"graph.lstm.num_units={units}", *limits(640, 100), "--eval-repeats", "1")
        per_sample = probe["train_gflop_per_epoch"] / 640
        samples = int(min(60000, max(8 * 256, grid_gflop / per_sample)) // 256 * 256)
        for batch in BATCHES:
            cells[(units, batch)] = {"samples": samples, "graphrun": [], "pytorch": []}
    for r in range(runs):
        note(f"grid, round {r + 1}/{runs}: graphrun, {len(cells)} cells")
        # a batch's widths back to back, starting from a different one each
        # round, so that a width's ratio to 64 units compares one minute
        for batch in BATCHES:
            for units in UNITS[r % len(UNITS):] + UNITS[:r % len(UNITS)]:
                c = cells[(units, batch)]
                lim = limits(c["samples"], 1000) + ["--eval-repeats", "1", "--epochs", str(epochs)]
                c["graphrun"].append(graphrun(CONFIG, "--batch", str(batch), "--set", f"graph.lstm.num_units={units}",
                                              *lim))
        # PyTorch: one process a thread setting, running its cells in turn
        by_threads = {}
        for (units, batch), c in cells.items():
            by_threads.setdefault(torch_threads.get(batch, torch_threads[64]), []).append((units, batch, c["samples"]))
        for th, group in by_threads.items():
            note(f"grid, round {r + 1}/{runs}: PyTorch with {th} thread(s), {len(group)} cells")
            spec = ",".join(f"{u}:{b}:{n}" for u, b, n in group)
            outs = all_json(["/usr/bin/python3", TORCH_LSTM, "--data", DATA, "--threads", str(th), "--cells", spec,
                             "--test-limit", "1000", "--eval-repeats", "1", "--epochs", str(epochs)], env=TORCH_ENV)
            for (units, batch, _), x in zip(group, outs):
                cells[(units, batch)]["pytorch"].append(x)
    out = []
    for (units, batch), c in cells.items():
        gflop = c["graphrun"][0]["train_gflop_per_epoch"]
        ge, te = med([x["epoch_median"] for x in c["graphrun"]]), med([x["epoch_median"] for x in c["pytorch"]])
        base = cells[(64, batch)]
        rate = [gflop / x["epoch_median"] for x in c["graphrun"]]
        rate64 = [base["graphrun"][0]["train_gflop_per_epoch"] / x["epoch_median"] for x in base["graphrun"]]
        out.append({"units": units, "batch": batch, "samples": c["samples"], "epochs": epochs, "gflop": gflop,
                    "vs_64_units": med([a / b for a, b in zip(rate, rate64)]),
                    "rounds": [x["epoch_median"] for x in c["graphrun"]],
                    "graphrun_seconds": ge, "pytorch_seconds": te, "pytorch_threads": c["pytorch"][0]["threads"],
                    "graphrun_gflops": gflop / ge, "pytorch_gflops": gflop / te})
    return out


def cnn_section(runs, config, samples, baseline=None):
    g, t, b = [], [], []
    lim = limits(samples, 2000)
    threads = (1, 2)  # PyTorch: both in the first round, then the faster
    for r in range(runs):
        note(f"cnn, round {r + 1}/{runs}: {os.path.relpath(config, ROOT)}, {samples} images")
        g.append(graphrun(config, *lim, "--eval-repeats", "1"))
        if baseline:  # another graphrun build, in the same rounds
            b.append(last_json([baseline, "bench", config, "--json", *lim, "--eval-repeats", "1"]))
        best = None
        for th in threads:
            x = last_json(["/usr/bin/python3", TORCH_CNN, config, "--data", DATA, "--threads", str(th),
                           "--limit", str(samples), "--test-limit", "2000", "--eval-repeats", "1"], env=TORCH_ENV)
            if best is None or x["epoch_median"] < best["epoch_median"]:
                best = x
        threads = (best["threads"],)
        t.append(best)
    scale = 60000 / samples
    ge, te = med([x["epoch_median"] for x in g]), med([x["epoch_median"] for x in t])
    gflop = g[0]["train_gflop_per_epoch"]
    out = {}
    if baseline:
        be = med([x["epoch_median"] for x in b])
        out = {"baseline": baseline, "baseline_seconds": be, "baseline_epoch": be * scale, "baseline_gflops": gflop / be}
    return {**out, "config": os.path.relpath(config, ROOT), "samples": samples, "batch": g[0]["batch"],
            "graphrun_seconds": ge, "pytorch_seconds": te, "graphrun_epoch": ge * scale, "pytorch_epoch": te * scale,
            "pytorch_threads": [x["threads"] for x in t], "gflop": gflop, "graphrun_gflops": gflop / ge,
            "pytorch_gflops": gflop / te, "graphrun_eval_2000": med([x["eval_seconds"] for x in g]),
            "pytorch_eval_2000": med([x["eval_seconds"] for x in t])}


def timed_train(threads, steps):
    """Wall seconds of a whole `graphrun bench` epoch of `steps` steps at batch 64."""
    x = graphrun(CONFIG, "--threads", str(threads), *limits(64 * steps, 1000), "--eval-repeats", "1")
    return x["epoch_median"]


def load_section(runs, steps):
    res = {"default": [], "1": [], "8": [], "quiet 2": [], "quiet 8": []}
    busy = subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"])
    try:
        time.sleep(0.5)
        for r in range(runs):
            note(f"load, round {r + 1}/{runs}: one busy process; default, 1 and 8 threads")
            res["default"].append(timed_train(0, steps))
            res["1"].append(timed_train(1, steps))
            res["8"].append(timed_train(8, steps))
    finally:
        busy.kill()
        busy.wait()
    for r in range(runs):
        note(f"load, round {r + 1}/{runs}: no busy process; 2 and 8 threads")
        res["quiet 2"].append(timed_train(2, steps))
        res["quiet 8"].append(timed_train(8, steps))
    ratios = {
        "default_vs_1_busy": med([a / b for a, b in zip(res["default"], res["1"])]),
        "8_vs_1_busy": med([a / b for a, b in zip(res["8"], res["1"])]),
        "8_vs_2_quiet": med([a / b for a, b in zip(res["quiet 8"], res["quiet 2"])]),
    }
    return {"steps": steps, "seconds": {k: med(v) for k, v in res.items()}, "rounds": res, "ratios": ratios}


def row(name, a, b, fmt="{:>10.4f}"):
    ratio = f"{a / b:>6.3f}" if b else "     -"
    return f"| {name:44} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |"


def header(first):
    return f"| {first:44} | {'graphrun':>10} | {'PyTorch':>10} | {'ratio':>6} |\n| {'-' * 44} | {'-' * 10} | {'-' * 10} | {'-' * 6} |"


def report(res, runs):
    peak = res.get("peak", {}).get("peak_gflops")
    print()
    if peak:
        p = res["peak"]
        print(f"fp32 peak {peak:.1f} GFLOP/s: {p['peak_core_gflops']:.1f} a core (measured FMA throughput) x "
              f"{p['cpus']} CPUs; OpenBLAS 2048^3 reaches {p['openblas_2048_gflops']:.1f} a core")
        print(f"\n| {'product, 1 thread (GFLOP/s)':34} | {'m x n x k':>18} | {'OpenBLAS':>8} | {'graphrun':>8} | {'libxsmm':>8} |")
        print(f"| {'-' * 34} | {'-' * 18} | {'-' * 8} | {'-' * 8} | {'-' * 8} |")
        for q in p["products"]:
            dims = f"{q['m']} x {q['n']} x {q['k']}" + (" T" if q["transposed_a"] else "")
            xs = f"{q['libxsmm']:>8.1f}" if q["libxsmm"] else f"{'-':>8}"
            print(f"| {q['what']:34} | {dims:>18} | {q['openblas']:>8.1f} | {q['graphrun']:>8.1f} | {xs} |")
    if "reference" in res:
        r64, r256 = res["reference"][64], res["reference"][256]
        g64, t64, g256, t256 = r64["graphrun"], r64["pytorch"], r256["graphrun"], r256["pytorch"]
        print(f"\nreference model, medians of {runs} rounds; graphrun with {g64['threads']} threads, PyTorch with its "
              f"faster setting ({t64['threads']} at batch 64, {t256['threads']} at batch 256); "
              f"{g64['gflop']:.1f} GFLOP an epoch")
        print(header(""))
        print(row("epoch, batch 64 (s)", g64["epoch"], t64["epoch"]))
        print(row("epoch, batch 256 (s)", g256["epoch"], t256["epoch"]))
        print(row("step, batch 64 (ms)", g64["step_ms"], t64["step_ms"]))
        print(row("test set, 10000 images (s)", min(g64["eval"], g256["eval"]), min(t64["eval"], t256["eval"])))
        print(row("peak RSS, bench process (MB)", g64["rss"], t64["rss"], "{:>10.1f}"))
        print(row("GFLOP/s, batch 64", g64["gflop"] / g64["epoch"], g64["gflop"] / t64["epoch"], "{:>10.1f}"))
        print(row("GFLOP/s, batch 256", g256["gflop"] / g256["epoch"], g256["gflop"] / t256["epoch"], "{:>10.1f}"))
        ev = min(g64["eval"], g256["eval"])
        print(row("GFLOP/s, test set", g64["eval_gflop"] / ev, g64["eval_gflop"] / min(t64["eval"], t256["eval"]),
                  "{:>10.1f}"))
        if peak:
            print(row("share of peak, batch 64", g64["gflop"] / g64["epoch"] / peak,
                      g64["gflop"] / t64["epoch"] / peak, "{:>10.3f}"))
            print(row("share of peak, test set", g64["eval_gflop"] / ev / peak,
                      g64["eval_gflop"] / min(t64["eval"], t256["eval"]) / peak, "{:>10.3f}"))
        print(row("accuracy after 1 epoch, batch 64", g64["acc"], t64["acc"]))
        print(f"\nbatch 256's epoch against batch 64's, the median of each round's ratio (the two run back to back): "
              f"{res['reference']['256_vs_64']:.3f}")
    if "grid" in res:
        print(f"\nLSTM grid (GFLOP/s; share of the {peak or 0:.0f} GFLOP/s peak), a cell's median epoch of "
              f"{res['grid'][0].get('epochs', 1)}, medians of {runs} rounds")
        print("(x 64u: graphrun's GFLOP/s against 64 units' at the same batch, the median of each round's ratio; a "
              "batch's widths run back to back)")
        print(f"| {'units':>5} | {'batch':>5} | {'images':>6} | {'graphrun':>8} | {'share':>5} | {'x 64u':>5} | "
              f"{'PyTorch':>8} | {'share':>5} | {'ratio':>5} |")
        print(f"| {'-' * 5} | {'-' * 5} | {'-' * 6} | {'-' * 8} | {'-' * 5} | {'-' * 5} | {'-' * 8} | {'-' * 5} | "
              f"{'-' * 5} |")
        for c in res["grid"]:
            sg = c["graphrun_gflops"] / peak if peak else 0
            st = c["pytorch_gflops"] / peak if peak else 0
            print(f"| {c['units']:>5} | {c['batch']:>5} | {c['samples']:>6} | {c['graphrun_gflops']:>8.1f} | {sg:>5.2f} | "
                  f"{c['vs_64_units']:>5.3f} | {c['pytorch_gflops']:>8.1f} | {st:>5.2f} | "
                  f"{c['graphrun_gflops'] / c['pytorch_gflops']:>5.2f} |")
    if "cnn" in res:
        c = res["cnn"]
        print(f"\nCNN {c['config']}, batch {c['batch']}, {c['samples']} training images projected to an epoch of "
              f"60000, medians of {runs} rounds")
        print(header(""))
        print(row("epoch (s, projected)", c["graphrun_epoch"], c["pytorch_epoch"], "{:>10.2f}"))
        print(row("GFLOP/s", c["graphrun_gflops"], c["pytorch_gflops"], "{:>10.1f}"))
        print(row("test set, 2000 images (s)", c["graphrun_eval_2000"], c["pytorch_eval_2000"]))
        if "baseline" in c:
            print(row("epoch (s, projected), --baseline build", c["baseline_epoch"], c["pytorch_epoch"], "{:>10.2f}"))
            print(row("GFLOP/s, --baseline build", c["baseline_gflops"], c["pytorch_gflops"], "{:>10.1f}"))
    if "load" in res:
        l = res["load"]
        s = l["seconds"]
        print(f"\ngraphrun under load ({l['steps']} steps at batch 64, medians of {runs} rounds; ratios are medians "
              f"of each round's ratio)")
        print(f"| {'case':44} | {'seconds':>10} | {'ratio':>28} |")
        print(f"| {'-' * 44} | {'-' * 10} | {'-' * 28} |")
        print(f"| {'one busy process, 1 thread':44} | {s['1']:>10.3f} | {'':>28} |")
        print(f"| {'one busy process, default threads':44} | {s['default']:>10.3f} | "
              f"{'%.3f vs 1 thread' % l['ratios']['default_vs_1_busy']:>28} |")
        print(f"| {'one busy process, 8 threads':44} | {s['8']:>10.3f} | "
              f"{'%.3f vs 1 thread' % l['ratios']['8_vs_1_busy']:>28} |")
        print(f"| {'no busy process, 2 threads':44} | {s['quiet 2']:>10.3f} | {'':>28} |")
        print(f"| {'no busy process, 8 threads':44} | {s['quiet 8']:>10.3f} | "
              f"{'%.3f vs 2 threads' % l['ratios']['8_vs_2_quiet']:>28} |")


def plot(res, path):
    if "grid" not in res:
        return
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        note("bench: gnuplot is missing; no plot")
        return
    data = path + ".dat"
    with open(data, "w") as f:
        for c in res["grid"]:
            f.write(f"\"{c['units']}u b{c['batch']}\" {c['graphrun_gflops']:.2f} {c['pytorch_gflops']:.2f}\n")
    peak = res.get("peak", {}).get("peak_gflops", 0)
    script = f"""
set terminal pngcairo size 1000,500 noenhanced
set output '{path}'
set title 'LSTM training, GFLOP/s by units and batch (peak {peak:.0f} GFLOP/s)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'GFLOP/s'
set yrange [0:*]
set key top left
set xtics rotate by -45
plot '{data}' using 2:xtic(1) title 'graphrun', '' using 3 title 'PyTorch'
"""
    r = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
    if r.returncode != 0:  # gnuplot-nox may lack pngcairo: its plain png terminal then
        r = subprocess.run([gnuplot], input=script.replace("pngcairo", "png"), text=True, capture_output=True)
    os.remove(data)
    note(f"plot: {path}" if r.returncode == 0 else "bench: gnuplot failed: " + r.stderr.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cnn", default=CNN)
    ap.add_argument("--cnn-samples", type=int, default=3200)
    ap.add_argument("--baseline", metavar="GRAPHRUN",
                    help="another graphrun binary timed in the same CNN rounds (a before/after comparison)")
    ap.add_argument("--grid-gflop", type=float, default=30.0)
    ap.add_argument("--grid-epochs", type=int, default=3)
    ap.add_argument("--load-steps", type=int, default=200)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--plot", metavar="FILE", default=os.path.join(ROOT, "build", "bench.png"))
    ap.add_argument("--skip", default="", help="sections to leave out: peak,reference,grid,cnn,load")
    args = ap.parse_args()
    for exe in (GRAPHRUN, GEMM_BENCH):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench: {os.path.relpath(exe, ROOT)} is missing; run tools/setup.sh first")
    skip = set(s for s in args.skip.split(",") if s)
    res = {}
    if "peak" not in skip:
        res["peak"] = peak_section()
    torch_threads = {64: 2, 256: 1}
    if "reference" not in skip:
        res["reference"] = reference_section(args.runs)
        torch_threads = {b: res["reference"][b]["pytorch"]["threads"] for b in (64, 256)}
    if "grid" not in skip:
        res["grid"] = grid_section(args.runs, torch_threads, args.grid_gflop, args.grid_epochs)
    if "cnn" not in skip:
        res["cnn"] = cnn_section(args.runs, os.path.abspath(args.cnn), args.cnn_samples, args.baseline)
    if "load" not in skip:
        res["load"] = load_section(args.runs, args.load_steps)
    report(res, args.runs)
    if args.json:
        if "reference" in res:
            res["reference"] = {str(k): v for k, v in res["reference"].items()}
        res["graphrun_version"] = subprocess.run([GRAPHRUN, "--version"], capture_output=True, text=True).stdout
        res["commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                                       text=True).stdout.strip()
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
        note(f"json: {args.json}")
    if args.plot:
        plot(res, args.plot)


if __name__ == "__main__":
    main()
