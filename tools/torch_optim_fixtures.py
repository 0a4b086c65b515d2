"""Reference values for graphrun's optimizers and schedules from an
independent implementation: PyTorch (Debian's python3-torch).

Optimizers: a float32 parameter of 7 values, 6 steps with given float32
gradients (shrinking, so that AMSGrad's running maximum matters), the
parameter after every step, for torch.optim.SGD (momentum, nesterov,
weight_decay), Adam (amsgrad, weight_decay), AdamW, RMSprop (centered,
momentum) and Adagrad (lr_decay, initial_accumulator_value).

Schedules: the learning rate of each step (torch's lr before each
scheduler.step()) for StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
CosineAnnealingWarmRestarts and OneCycleLR (cycle_momentum=False: graphrun
cycles the rate only), and for ReduceLROnPlateau the rate after each of a
sequence of metrics. tests/test_optim.c and tests/test_schedule.c read the
file; CI needs no PyTorch.

    /usr/bin/python3 tools/torch_optim_fixtures.py    # rewrites tests/fixtures/optim.json
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "optim.json")
N, STEPS = 7, 6


def floats(t):
    return [float(v) for v in t.reshape(-1).tolist()]


def data(seed):
    """The start (magnitudes 0.5 to 1.5, random signs) and each step's
    gradient (scale 1 / (1 + step)), float32."""
    gen = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(N, generator=gen) < 0.5, -1.0, 1.0)
    p = (sign * (0.5 + torch.rand(N, generator=gen))).float()
    grads = [((torch.rand(N, generator=gen) * 2 - 1) / (1 + k)).float() for k in range(STEPS)]
    return p, grads


def optimizer_case(name, kind, lr, keys, seed, make):
    p0, grads = data(seed)
    p = p0.clone().requires_grad_(True)
    opt = make([p])
    after = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        after.append(floats(p.detach()))
    return {"name": name, "optimizer": kind, "lr": lr, "keys": keys, "param": floats(p0),
            "grads": [floats(g) for g in grads], "after": after}


def optimizers():
    O = torch.optim
    return [
        optimizer_case("sgd", "sgd", 0.1, {}, 1, lambda ps: O.SGD(ps, lr=0.1)),
        optimizer_case("sgd_momentum_decay", "sgd", 0.1, {"momentum": 0.9, "weight_decay": 0.01}, 2,
                       lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
        optimizer_case("sgd_nesterov", "sgd", 0.05, {"momentum": 0.9, "nesterov": 1, "weight_decay": 0.001}, 3,
                       lambda ps: O.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001)),
        optimizer_case("adam", "adam", 0.01, {}, 4, lambda ps: O.Adam(ps, lr=0.01)),
        optimizer_case("adam_amsgrad_decay", "adam", 0.02,
                       {"beta1": 0.8, "beta2": 0.99, "amsgrad": 1, "weight_decay": 0.01}, 5,
                       lambda ps: O.Adam(ps, lr=0.02, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01)),
        optimizer_case("adamw", "adamw", 0.01, {}, 6, lambda ps: O.AdamW(ps, lr=0.01)),
        optimizer_case("adamw_amsgrad", "adamw", 0.02, {"weight_decay": 0.1, "amsgrad": 1, "beta2": 0.99}, 7,
                       lambda ps: O.AdamW(ps, lr=0.02, weight_decay=0.1, amsgrad=True, betas=(0.9, 0.99))),
        optimizer_case("rmsprop", "rmsprop", 0.01, {}, 8, lambda ps: O.RMSprop(ps, lr=0.01)),
        optimizer_case("rmsprop_centered_momentum", "rmsprop", 0.01,
                       {"rho": 0.9, "centered": 1, "momentum": 0.9, "weight_decay": 0.01}, 9,
                       lambda ps: O.RMSprop(ps, lr=0.01, alpha=0.9, centered=True, momentum=0.9,
                                            weight_decay=0.01)),
        optimizer_case("rmsprop_momentum", "rmsprop", 0.005, {"momentum": 0.5, "epsilon": 1e-6}, 10,
                       lambda ps: O.RMSprop(ps, lr=0.005, momentum=0.5, eps=1e-6)),
        optimizer_case("adagrad", "adagrad", 0.1, {}, 11, lambda ps: O.Adagrad(ps, lr=0.1)),
        optimizer_case("adagrad_decay_initial", "adagrad", 0.1,
                       {"lr_decay": 0.1, "initial_accumulator_value": 0.1, "weight_decay": 0.01}, 12,
                       lambda ps: O.Adagrad(ps, lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1,
                                            weight_decay=0.01)),
    ]


def schedule_case(name, kind, base, steps, keys, make, lst=None):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"name": name, "schedule": kind, "base": base, "horizon": steps, "keys": keys, "list": lst or [],
            "lrs": lrs}


def plateau_case(name, base, keys, metrics, **kw):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    lrs = []
    for m in metrics:
        opt.step()
        sched.step(m)
        lrs.append(opt.param_groups[0]["lr"])
    return {"name": name, "schedule": "reduce_on_plateau", "base": base, "horizon": len(metrics), "keys": keys,
            "list": [], "metrics": metrics, "lrs": lrs}


def schedules():
    S = torch.optim.lr_scheduler
    loss = [1.0, 0.9, 0.91, 0.905, 0.899, 0.95, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.69, 0.70, 0.71, 0.72]
    acc = [0.5, 0.6, 0.6, 0.61, 0.605, 0.7, 0.7, 0.7, 0.71, 0.69, 0.69, 0.8, 0.8, 0.8, 0.8, 0.8]
    return [
        schedule_case("step", "step", 0.1, 12, {"every": 3, "gamma": 0.5},
                      lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
        schedule_case("multistep", "multistep", 0.1, 12, {"gamma": 0.1},
                      lambda o: S.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1), [2, 5, 9]),
        schedule_case("exponential", "exponential", 0.1, 12, {"gamma": 0.9},
                      lambda o: S.ExponentialLR(o, gamma=0.9)),
        schedule_case("cosine", "cosine", 0.1, 10, {"floor": 0.001},
                      lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
        schedule_case("cosine_past_period", "cosine", 0.1, 15, {"period": 7},
                      lambda o: S.CosineAnnealingLR(o, T_max=7)),
        schedule_case("cosine_restarts", "cosine", 0.1, 20,
                      {"floor": 0.01, "period": 4, "restart": 1, "multiplier": 2},
                      lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=0.01)),
        schedule_case("cosine_restarts_same_period", "cosine", 0.1, 12, {"period": 5, "restart": 1},
                      lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5)),
        schedule_case("one_cycle", "one_cycle", 0.1, 20, {},
                      lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=20, cycle_momentum=False)),
        schedule_case("one_cycle_linear_three_phase", "one_cycle", 0.1, 30,
                      {"pct_start": 0.25, "anneal": 1, "three_phase": 1, "div_factor": 10,
                       "final_div_factor": 100},
                      lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=30, pct_start=0.25, anneal_strategy="linear",
                                             three_phase=True, div_factor=10, final_div_factor=100,
                                             cycle_momentum=False)),
        plateau_case("plateau_loss", 0.1, {"factor": 0.5, "patience": 2, "threshold": 0.01, "cooldown": 1,
                                           "floor": 0.02}, loss,
                     mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.02),
        plateau_case("plateau_accuracy_abs", 0.1, {"metric": 1, "factor": 0.2, "patience": 1, "threshold": 0.005,
                                                   "threshold_mode": 1}, acc,
                     mode="max", factor=0.2, patience=1, threshold=0.005, threshold_mode="abs"),
    ]


def main():
    torch.set_default_dtype(torch.float32)
    doc = {"generator": "tools/torch_optim_fixtures.py", "torch": torch.__version__, "optimizers": optimizers(),
           "schedules": schedules()}
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
