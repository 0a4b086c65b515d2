"""One conv layer's forward and backward in PyTorch, timed, for
tools/bench/conv_bench.c to be held against (same shapes, NCHW as PyTorch
prefers, 'same' padding, weight and bias gradients, the input's unless
--no-dx). Prints the median of --reps passes in milliseconds, wall and
process CPU time.

    /usr/bin/python3 tools/bench/torch_conv.py B H W C F K [--threads N] [--reps R] [--no-dx]
"""
import argparse
import time

import torch
import torch.nn.functional as F


def main():
    p = argparse.ArgumentParser()
    for name in ["B", "H", "W", "C", "F", "K"]:
        p.add_argument(name, type=int)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--no-dx", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = (torch.rand(a.B, a.C, a.H, a.W) - 0.5).requires_grad_(not a.no_dx)
    w = (torch.rand(a.F, a.C, a.K, a.K) - 0.5).requires_grad_(True)
    b = (torch.rand(a.F) - 0.5).requires_grad_(True)
    dy = torch.rand(a.B, a.F, a.H, a.W) - 0.5
    times, cpu = [], []
    for r in range(a.reps + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        y = F.conv2d(x, w, b, padding=a.K // 2)
        y.backward(dy)
        if r >= 2:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        w.grad = b.grad = x.grad = None
    times.sort()
    cpu.sort()
    print("%.3f ms (cpu %.3f ms)" % (1e3 * times[len(times) // 2], 1e3 * cpu[len(cpu) // 2]))


main()
