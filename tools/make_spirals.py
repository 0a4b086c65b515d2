#!/usr/bin/env python3
"""Write the two-spirals data set as CSV (python3, standard library only).

    python3 tools/make_spirals.py [DEST_DIR] [--points N]

Two interleaved spirals in the plane, one per class, the classic problem a
linear model cannot solve (Lang and Witbrock, 1988): class k's point at
angle t in [0.25, 3] turns is r = t / 3 turns (radius up to 1) at angle
t + k * pi, plus gaussian noise of 0.02. Writes DEST_DIR (default
configs/data, where configs/spirals_mlp.yaml reads them; the files there
are committed) spirals-train.csv (N points per class, default 1000) and
spirals-test.csv (N / 2 per class), each with a header row `x,y,label` and
rows in random order. The same seeds every time: the files are identical
from run to run.
"""
import math
import os
import random
import sys


def spirals(per_class, seed):
    rng = random.Random(seed)
    rows = []
    for label in (0, 1):
        for _ in range(per_class):
            turns = 0.25 + 2.75 * math.sqrt(rng.random())  # even density along the arm
            t = 2 * math.pi * turns
            r = turns / 3
            x = r * math.cos(t + label * math.pi) + rng.gauss(0, 0.02)
            y = r * math.sin(t + label * math.pi) + rng.gauss(0, 0.02)
            rows.append((x, y, label))
    rng.shuffle(rows)
    return rows


def write(path, rows):
    with open(path, "w", newline="") as f:
        f.write("x,y,label\n")
        for x, y, label in rows:
            f.write("%.6f,%.6f,%d\n" % (x, y, label))
    print("%s: %d rows" % (path, len(rows)))


def main():
    args = sys.argv[1:]
    per_class = 1000
    if "--points" in args:
        i = args.index("--points")
        per_class = int(args[i + 1])
        del args[i:i + 2]
    if per_class < 2:
        raise SystemExit("--points: expected at least 2 points per class")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    dest = args[0] if args else os.path.join(root, "configs", "data")
    os.makedirs(dest, exist_ok=True)
    write(os.path.join(dest, "spirals-train.csv"), spirals(per_class, seed=1988))
    write(os.path.join(dest, "spirals-test.csv"), spirals(per_class // 2, seed=2024))


if __name__ == "__main__":
    main()
