#!/usr/bin/env python3
"""Data-parallel training under mpirun against one process (ctest: mpi).

    mpi_tests.py BUILD_DIR SOURCE_DIR [NAME...]

Each check runs tests/mpi/losses.c's program (mpi_losses: the library's
training loop printing every step's loss to nine digits) or graphrun itself
under `mpirun --oversubscribe` and compares with one process:

  parity      2 ranks, batch 64: the same 50 losses as 1 process, 1e-5 relative
  exact       2 ranks, batch 64, 50 steps: the checkpoint's parameters and
              optimizer state are the same bits as 1 process's (the built-in
              ops sum gradients split-invariantly, ops/util.h)
  uneven      3 ranks, batch 64 (21, 21 and 22 rows): the same
  state       an MLP with batch_norm on 2 ranks (each rank updates the running
              statistics from its own rows; rank 0's are broadcast after each
              step): trains through two checkpoints, whose hash check finds
              every rank's parameters and state equal, and saves the state
  resume      a checkpoint written by 2 ranks resumed on 1 and on 3: the losses
              of an unbroken 2-rank run, 1e-5 relative
  threads     by default the ranks on a host share its cores: 2 ranks on this
              host take half of them each (at least one)
  refuse      a batch smaller than the ranks: one line naming the rank and key
  one_rank    a data file missing on one rank only: one line naming that rank
  full_disk   rank 0's disk fills up mid-run (tests/full_disk.c): every rank
              stops, one line naming rank 0 and the file, no hang
  kill        SIGKILL of one rank: the job ends within 10 s, mpirun names the
              rank and the signal, and the last checkpoint resumes
  interrupt   SIGINT on mpirun: one checkpoint (rank 0), every rank stops, 130
              or 143, and the checkpoint resumes

As root, mpirun needs OMPI_ALLOW_RUN_AS_ROOT (set here). Prints one line a
check, then 'N passed, N failed'; exits 1 if any failed.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ONLY = sys.argv[3:]
LOSSES = os.path.join(BUILD, "tests", "mpi_losses")
GRAPHRUN = os.path.join(BUILD, "graphrun")
CONFIG = os.path.join(SOURCE, "tests", "mpi", "mpi_mnist.yaml")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
TMP = tempfile.mkdtemp(prefix="graphrun-mpi-")
REL = 1e-5


def mpirun(n, *args):
    """-q: graphrun's messages alone, without Open MPI's banners."""
    return ["mpirun", "-q", "--oversubscribe", "-np", str(n)] + list(args)


def run(cmd, timeout=90):
    """A hang is a failure: the ranks must never wait for one that left."""
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(p)
        raise AssertionError("still running after %d s: %s" % (timeout, " ".join(cmd[-6:])))
    return p.returncode, out, err


def stop(p):
    """mpirun ends its ranks on SIGTERM (a SIGKILL would leave them running)."""
    p.terminate()
    try:
        p.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()


def losses(ranks, *args):
    """{step: loss} and the test accuracy of mpi_losses on `ranks` ranks (0: no mpirun)."""
    cmd = [LOSSES, CONFIG] + list(args)
    rc, out, err = run(mpirun(ranks, *cmd) if ranks else cmd)
    if rc != 0:
        raise AssertionError("%d ranks: exit %d: %s%s" % (ranks, rc, out[-500:], err[-500:]))
    steps = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^step (\d+) (\S+)$", out, re.M)}
    acc = re.search(r"^test_accuracy (\S+)$", out, re.M)
    return steps, float(acc.group(1)) if acc else None


def same(a, b, what):
    if sorted(a) != sorted(b):
        raise AssertionError("%s: steps %s against %s" % (what, sorted(a)[:3], sorted(b)[:3]))
    worst = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-30) for k in a)
    if worst > REL:
        k = max(a, key=lambda k: abs(a[k] - b[k]) / max(abs(b[k]), 1e-30))
        raise AssertionError("%s: step %d: %.9g against %.9g (relative %.2g)" % (what, k, a[k], b[k], worst))
    return worst


def check_parity():
    one, acc1 = losses(0, "train.steps=50")
    two, acc2 = losses(2, "train.steps=50")
    if len(one) != 50:
        raise AssertionError("1 process printed %d steps" % len(one))
    w = same(two, one, "2 ranks against 1 process")
    if acc1 != acc2:
        raise AssertionError("test accuracy %g on 2 ranks, %g on 1" % (acc2, acc1))
    return "50 steps, worst relative difference %.2g; test accuracy %g both" % (w, acc1)


def tensors(path):
    """{name: bytes} of a checkpoint's tensors (safetensors: u64 header length, JSON header, data)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    head, data = json.loads(blob[8:8 + n]), blob[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in head.items() if k != "__metadata__"}


def check_exact():
    got = {}
    for ranks in (0, 2):
        ckpt = os.path.join(TMP, "exact%d.safetensors" % ranks)
        losses(ranks, "train.steps=50", "train.checkpoint.path=" + ckpt)
        got[ranks] = tensors(ckpt)
    names = [k for k in got[0] if k.startswith(("param/", "optim/"))]
    if not names or sorted(got[0]) != sorted(got[2]):
        raise AssertionError("tensors %s against %s" % (sorted(got[2]), sorted(got[0])))
    differ = [k for k in names if got[0][k] != got[2][k]]
    if differ:
        raise AssertionError("after 50 steps, 2 ranks differ from 1 process in %s" % ", ".join(differ))
    return "after 50 steps, %d parameter and optimizer tensors identical" % len(names)


def check_state():
    config = os.path.join(SOURCE, "tests", "mpi", "mpi_bn.yaml")
    ckpt = os.path.join(TMP, "state.safetensors")
    rc, out, err = run(mpirun(2, LOSSES, config, "train.checkpoint.path=" + ckpt, "train.checkpoint.every=10"))
    if rc != 0 or "test_accuracy" not in out:
        raise AssertionError("exit %d: %s%s" % (rc, out[-300:], err[-300:]))
    got = tensors(ckpt)
    state = [k for k in got if "norm" in k and not k.startswith("optim/") and "gamma" not in k and "beta" not in k]
    if not state:
        raise AssertionError("no batch_norm state in the checkpoint: %s" % sorted(got))
    return "20 steps, 2 checkpoints; state %s saved" % ", ".join(sorted(state))


def check_uneven():
    one, _ = losses(0, "train.steps=50")
    three, _ = losses(3, "train.steps=50")
    return "50 steps, worst relative difference %.2g" % same(three, one, "3 ranks (21+21+22) against 1 process")


def check_controls():
    """What acts on the reduced gradient: its global norm clipped, a schedule, decoupled weight decay."""
    args = ("train.steps=50", "train.optimizer.name=adamw", "train.optimizer.weight_decay=0.01",
            "train.schedule.name=cosine", "train.clip.norm=0.5")
    one, acc1 = losses(0, *args)
    two, acc2 = losses(2, *args)
    w = same(two, one, "2 ranks against 1 process, clipped, cosine, adamw")
    if acc1 != acc2:
        raise AssertionError("test accuracy %g on 2 ranks, %g on 1" % (acc2, acc1))
    return "50 steps, worst relative difference %.2g" % w


def check_resume():
    ckpt = os.path.join(TMP, "resume.safetensors")
    unbroken, _ = losses(2, "train.steps=40")
    first, _ = losses(2, "train.steps=20", "train.checkpoint.path=" + ckpt)
    same(first, {k: unbroken[k] for k in range(1, 21)}, "2 ranks, first 20 steps")
    notes = []
    for n in (0, 3):
        rest, _ = losses(n, "train.steps=40", "--resume", ckpt)
        want = {k: unbroken[k] for k in range(21, 41)}
        notes.append("%d: %.2g" % (max(n, 1), same(rest, want, "resumed on %d rank(s)" % max(n, 1))))
    return "steps 21-40 resumed on 1 and 3 ranks against 2 unbroken, worst relative " + ", ".join(notes)


def one_line(err, *want):
    lines = [l for l in err.splitlines() if l.strip()]
    if len(lines) != 1 or not all(w in lines[0] for w in want):
        raise AssertionError("expected one line with %s, got %r" % (want, err[-800:]))
    return lines[0]


def check_threads():
    # --bind-to none: each rank may use every core (mpirun binds 2 ranks to
    # a core each otherwise), so only the sharing can make it take fewer
    rc, out, err = run(mpirun(2, "--bind-to", "none", GRAPHRUN, "train", CONFIG, "--unset", "train.threads", "--set",
                              "train.steps=2", "--no-run-dir"))
    got = re.search(r"seed \d+, (\d+) threads?", out)
    online = os.cpu_count()
    usable = len(os.sched_getaffinity(0))
    want = max(1, min(usable, online // 2))
    if rc != 0 or not got or int(got.group(1)) != want or "ranks: 2 (2 on this host)" not in out:
        raise AssertionError("exit %d, expected %d threads a rank: %s%s" % (rc, want, out[-600:], err[-300:]))
    return "%d CPUs, 2 ranks: %d thread(s) each" % (online, want)


def check_refuse():
    rc, out, err = run(mpirun(3, GRAPHRUN, "train", CONFIG, "--set", "train.batch_size=2", "--no-run-dir"))
    if rc == 0:
        raise AssertionError("a batch of 2 on 3 ranks ran")
    return one_line(err, "rank 0:", "train.batch_size", "each of the 3 ranks", "got 2")


def check_one_rank():
    """Rank 1 alone reads a data file that is not there (a host without it)."""
    bad = os.path.join(TMP, "missing.yaml")
    text = open(CONFIG).read().replace("train-labels-idx1-ubyte", "no-such-labels")
    text = text.replace("../../data", os.path.join(SOURCE, "data"))
    open(bad, "w").write(text)
    rc, out, err = run(["mpirun", "-q", "--oversubscribe", "-np", "1", GRAPHRUN, "train", CONFIG, "--no-run-dir", ":",
                        "-np", "1", GRAPHRUN, "train", bad, "--no-run-dir"])
    if rc == 0:
        raise AssertionError("ran without rank 1's labels")
    return one_line(err, "rank 1:", "no-such-labels")


def check_full_disk():
    run_dir = os.path.join(TMP, "full")
    shim = os.path.join(BUILD, "tests", "libfull_disk.so")
    rc, out, err = run(["mpirun", "-q", "--oversubscribe", "-np", "2", "-x", "GR_FULL_PREFIX=" + run_dir, "-x",
                        "GR_FULL_AFTER=3000", "-x", "LD_PRELOAD=" + shim, GRAPHRUN, "train", CONFIG, "--run-dir",
                        run_dir, "--set", "train.steps=200", "--set", "train.log_every=1"])
    if rc == 0:
        raise AssertionError("ran on a full disk")
    return one_line(err, "rank 0:", "write failed: No space left on device", "training stopped at step")


def children(pid):
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            out += [int(c) for c in open("/proc/%d/task/%s/children" % (pid, task)).read().split()]
        except OSError:
            pass
    return out


def rank_pid(launcher, rank):
    """The process of `rank` among mpirun's children (its environment says)."""
    for _ in range(200):
        for c in children(launcher):
            try:
                env = open("/proc/%d/environ" % c, "rb").read().split(b"\0")
            except OSError:
                continue
            if b"OMPI_COMM_WORLD_RANK=%d" % rank in env:
                return c
        time.sleep(0.05)
    raise AssertionError("no process of rank %d" % rank)


def wait_for(path, proc, seconds=120):
    end = time.time() + seconds
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > end:
            raise AssertionError("%s never appeared" % path)
        time.sleep(0.05)


def resumes(ckpt):
    """The checkpoint continues for a few steps on one process."""
    step = ckpt_step(ckpt)
    rc, out, err = run([GRAPHRUN, "train", CONFIG, "--resume", ckpt, "--no-run-dir", "--quiet", "--set",
                        "train.steps=%d" % (step + 5)])
    if rc != 0:
        raise AssertionError("resuming %s: exit %d: %s" % (ckpt, rc, err[-500:]))


def ckpt_step(ckpt):
    head = open(ckpt, "rb").read(65536).decode("latin-1")
    return int(re.search(r'"step": ?"(\d+)"', head).group(1))


def long_run(tag, every, quiet=True):
    run_dir = os.path.join(TMP, tag)
    launcher = mpirun(2) if quiet else [a for a in mpirun(2) if a != "-q"]
    cmd = launcher + [GRAPHRUN, "train", CONFIG, "--run-dir", run_dir, "--set", "train.steps=100000", "--set",
                      "train.checkpoint.every=%d" % every, "--set", "eval.every=100000"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, os.path.join(run_dir, "checkpoint.safetensors")


def check_kill():
    return with_job(kill_one)


def with_job(fn):
    """fn(procs), which starts jobs into procs; any it leaves running is ended."""
    procs = []
    try:
        return fn(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                stop(p)


def kill_one(procs):
    # without -q: mpirun's own note of the rank that died is the message
    proc, ckpt = long_run("kill", 20, quiet=False)
    procs.append(proc)
    wait_for(ckpt, proc)
    time.sleep(0.5)
    victim = rank_pid(proc.pid, 1)
    t0 = time.time()
    os.kill(victim, signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError("the job still ran 30 s after rank 1 was killed")
    took = time.time() - t0
    if took > 10:
        raise AssertionError("the job ended %.1f s after rank 1 was killed" % took)
    if proc.returncode == 0 or not re.search(r"rank 1 .*signal 9", err):
        raise AssertionError("exit %d, stderr %r" % (proc.returncode, err[-800:]))
    resumes(ckpt)
    return "ended %.1f s after the kill (exit %d); checkpoint of step %d resumes" % (took, proc.returncode,
                                                                                  ckpt_step(ckpt))


def check_interrupt():
    return with_job(interrupt)


def interrupt(procs):
    proc, ckpt = long_run("interrupt", 1000000)
    procs.append(proc)
    out_dir = os.path.dirname(ckpt)
    wait_for(os.path.join(out_dir, "metrics.csv"), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError("the job still ran 30 s after SIGINT")
    saved = re.findall(r"interrupted after step (\d+); checkpoint saved to", out)
    if len(saved) != 1 or not os.path.exists(ckpt) or ckpt_step(ckpt) != int(saved[0]):
        raise AssertionError("exit %d, stdout %r, stderr %r" % (proc.returncode, out[-500:], err[-500:]))
    resumes(ckpt)
    return "stopped after step %s (exit %d), one checkpoint, which resumes" % (saved[0], proc.returncode)


CHECKS = [("parity", check_parity), ("exact", check_exact), ("state", check_state), ("uneven", check_uneven), ("controls", check_controls), ("resume", check_resume), ("threads", check_threads),
          ("refuse", check_refuse),
          ("one_rank", check_one_rank), ("full_disk", check_full_disk), ("kill", check_kill), ("interrupt", check_interrupt)]


def main():
    passed = failed = 0
    for name, fn in CHECKS:
        if ONLY and name not in ONLY:
            continue
        t0 = time.time()
        try:
            note = fn()
            passed += 1
            print("ok   %-9s %5.1f s  %s" % (name, time.time() - t0, note), flush=True)
        except Exception as e:  # every check reports, then the summary
            failed += 1
            print("FAIL %-9s %5.1f s  %s" % (name, time.time() - t0, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
