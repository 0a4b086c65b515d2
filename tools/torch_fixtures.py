"""Reference values for graphrun's ops from an independent implementation:
PyTorch (Debian's python3-torch), in float64.

For each case: small random inputs and weights (fixed seeds), the op's
output, and the gradient of L = sum(r * y) (r random, fixed) with respect to
every differentiable input and weight. Everything is written in graphrun's
layouts, already converted (NHWC images; conv kernels [KH, KW, C, F]; GRU,
RNN and LSTM weights transposed from torch's modules, as the ops' comments
describe), in the order the op harness takes its inputs: the node's inputs,
then its weights. tests/test_fixtures.c reads the file; CI needs no PyTorch.

    /usr/bin/python3 tools/torch_fixtures.py    # rewrites tests/fixtures/ops.json
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ops.json")


def f32(t):
    """Round to float32 (what graphrun will hold), kept in float64."""
    return t.float().double()


def rand(gen, *shape, scale=1.0):
    return f32((torch.rand(tuple(shape), generator=gen) * 2 - 1) * scale)


def flat(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


class Case:
    """One fixture: `yaml` (graphrun nodes, the node under test named y),
    `batch`, and inputs added in the harness's order."""

    def __init__(self, name, yaml, batch, seed):
        self.name, self.yaml, self.batch = name, yaml, batch
        self.gen = torch.Generator().manual_seed(seed)
        self.inputs = []  # (graphrun tensor, torch leaf or None, dtype)
        # optional: "eval_output" (evaluation's y when it is not training's),
        # "state_after" ({input index: values after one training forward}),
        # "seed" (train.seed, which keys random streams)
        self.extra = {}

    def add(self, value, dtype="f32", grad=True):
        """A graphrun input (already in graphrun's layout); returns a leaf
        that requires grad when it is a float (and not an op's state)."""
        leaf = value.clone().requires_grad_(dtype == "f32" and grad)
        self.inputs.append((leaf, dtype))
        return leaf

    def finish(self, y, grads=None):
        """y in graphrun's layout; `grads`, when given, returns the inputs'
        gradients after backward (for weights that torch holds in a module)."""
        r = rand(self.gen, *y.shape)
        (r * y).sum().backward()
        got = grads() if grads else [leaf.grad for leaf, _ in self.inputs]
        ins = []
        for (leaf, dtype), grad in zip(self.inputs, got):
            entry = {"shape": list(leaf.shape), "dtype": dtype,
                     "data": [int(v) for v in leaf.reshape(-1).tolist()] if dtype == "i32" else flat(leaf)}
            entry["grad"] = flat(grad) if dtype == "f32" and grad is not None else None
            ins.append(entry)
        doc = {"name": self.name, "yaml": self.yaml, "batch": self.batch, "inputs": ins,
               "dout": flat(r), "output": {"shape": list(y.shape), "data": flat(y)}}
        doc.update(self.extra)
        return doc


def node_x(shape):
    return "- {name: x, op: input, data: images, shape: [%s]}\n" % ", ".join(str(d) for d in shape)


def tf_same_pads(size, k, stride, dilation=1):
    """TensorFlow's 'same' padding of one axis: (before, after)."""
    ext = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + ext - size, 0)
    return total // 2, total - total // 2


def conv_case(name, B, H, W, C, Fn, k, strides=(1, 1), padding="valid", dilation=(1, 1), seed=0):
    kh, kw = k
    attrs = "filters: %d, kernel_size: [%d, %d], strides: [%d, %d], padding: %s, dilation: [%d, %d]" % (
        Fn, kh, kw, strides[0], strides[1], padding, dilation[0], dilation[1])
    c = Case(name, node_x([H, W, C]) + "- {name: y, op: conv2d, inputs: [x], %s}\n" % attrs, B, seed)
    x = c.add(rand(c.gen, B, H, W, C))
    kernel = c.add(rand(c.gen, kh, kw, C, Fn, scale=0.5))  # [KH, KW, C, F]
    bias = c.add(rand(c.gen, Fn, scale=0.5))
    xt = x.permute(0, 3, 1, 2)                  # NCHW
    wt = kernel.permute(3, 2, 0, 1)             # torch's [F, C, KH, KW]
    if padding == "same":
        ph = tf_same_pads(H, kh, strides[0], dilation[0])
        pw = tf_same_pads(W, kw, strides[1], dilation[1])
        xt = F.pad(xt, (pw[0], pw[1], ph[0], ph[1]))
    y = F.conv2d(xt, wt, bias, stride=strides, dilation=dilation)
    return c.finish(y.permute(0, 2, 3, 1))


def pool_case(name, kind, B, H, W, C, size, strides=None, padding="valid", seed=0):
    strides = strides or size
    attrs = "size: [%d, %d], strides: [%d, %d], padding: %s" % (size[0], size[1], strides[0], strides[1], padding)
    c = Case(name, node_x([H, W, C]) + "- {name: y, op: %s, inputs: [x], %s}\n" % (kind, attrs), B, seed)
    # distinct values, so the max of every window is unique
    x = c.add(f32(torch.randperm(B * H * W * C, generator=c.gen).double().reshape(B, H, W, C) / (B * H * W * C) - 0.5))
    xt = x.permute(0, 3, 1, 2)
    pads = (0, 0, 0, 0)
    if padding == "same":
        ph, pw = tf_same_pads(H, size[0], strides[0]), tf_same_pads(W, size[1], strides[1])
        pads = (pw[0], pw[1], ph[0], ph[1])
    if kind == "max_pool2d":
        y = F.max_pool2d(F.pad(xt, pads, value=-math.inf), size, strides)
    else:  # TensorFlow's average: over the cells inside the image only
        total = F.avg_pool2d(F.pad(xt, pads), size, strides, divisor_override=1)
        count = F.avg_pool2d(F.pad(torch.ones_like(xt), pads), size, strides, divisor_override=1)
        y = total / count
    return c.finish(y.permute(0, 2, 3, 1))


def elementwise_case(name, op, attrs, shape, fn, B=3, seed=0):
    c = Case(name, node_x(shape) + "- {name: y, op: %s, inputs: [x]%s}\n" % (op, attrs), B, seed)
    x = c.add(rand(c.gen, B, *shape, scale=3.0))
    return c.finish(fn(x))


def recurrent_torch(kind, I, H, bidirectional, gen):
    """A torch module with weights drawn from gen (float32 values)."""
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind]
    m = cls(I, H, batch_first=True, bidirectional=bidirectional)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(rand(gen, *p.shape, scale=0.6))
    return m


def recurrent_case(name, kind, B, T, I, H, reverse, seed):
    attrs = "num_units: %d, reverse: %s" % (H, "true" if reverse else "false")
    if kind == "lstm":
        attrs += ", forget_bias: 0.0"
    c = Case(name, node_x([T, I]) + "- {name: y, op: %s, inputs: [x], %s}\n" % (kind, attrs), B, seed)
    x = c.add(rand(c.gen, B, T, I))
    m = recurrent_torch(kind, I, H, reverse, c.gen)
    sfx = "_reverse" if reverse else ""  # the backward direction of a bidirectional module
    w_ih, w_hh = getattr(m, "weight_ih_l0" + sfx), getattr(m, "weight_hh_l0" + sfx)
    b_ih, b_hh = getattr(m, "bias_ih_l0" + sfx), getattr(m, "bias_hh_l0" + sfx)
    if kind == "gru":  # kernel, recurrent_kernel, bias, recurrent_bias; gate order r, z, n as torch's
        for t in [w_ih.t(), w_hh.t(), b_ih, b_hh]:
            c.add(t.detach())
        grads = lambda: [x.grad, w_ih.grad.t(), w_hh.grad.t(), b_ih.grad, b_hh.grad]
    elif kind == "rnn":  # kernel, recurrent_kernel, bias = b_ih + b_hh
        for t in [w_ih.t(), w_hh.t(), b_ih + b_hh]:
            c.add(f32(t.detach()))
        grads = lambda: [x.grad, w_ih.grad.t(), w_hh.grad.t(), b_ih.grad]
    else:  # lstm: kernel [I + H, 4H] = [W_ih^T; W_hh^T], gates i, f, g, o as torch's; bias = b_ih + b_hh
        for t in [torch.cat([w_ih.t(), w_hh.t()]), b_ih + b_hh]:
            c.add(f32(t.detach()))
        grads = lambda: [x.grad, torch.cat([w_ih.grad.t(), w_hh.grad.t()]), b_ih.grad]
    if kind != "gru":  # graphrun holds one bias: torch's two, summed, must be that float sum
        with torch.no_grad():
            b_ih.copy_(c.inputs[-1][0])
            b_hh.zero_()
    out, _ = m(x)
    y = out[:, :, H:] if reverse else out  # the reverse direction's h_t, indexed by t
    return c.finish(y, grads)


# ---- graphrun's random stream, written again from its definition ----------
# (runtime/base/rng.h: Philox-4x32-10 under a key made of train.seed and the
# node's name; element e is word e % 4 of the block at counter (e // 4, step))

M64 = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def node_key(seed, name):
    h = 0xcbf29ce484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return mix64(h ^ mix64((seed + 0x9e3779b97f4a7c15) & M64))


def philox4x32(ctr, key):
    c, k = list(ctr), list(key)
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k[0]) & 0xffffffff, p1 & 0xffffffff,
             ((p0 >> 32) ^ c[3] ^ k[1]) & 0xffffffff, p0 & 0xffffffff]
        k = [(k[0] + 0x9E3779B9) & 0xffffffff, (k[1] + 0xBB67AE85) & 0xffffffff]
    return c


def uniforms(seed, name, step, n):
    key = node_key(seed, name)
    k = [key & 0xffffffff, key >> 32]
    out = []
    for e in range(n):
        if e % 4 == 0:
            b = e // 4
            words = philox4x32([b & 0xffffffff, b >> 32, step & 0xffffffff, step >> 32], k)
        out.append((words[e % 4] >> 8) / 16777216.0)
    return torch.tensor(out)


def dropout_case(name, shape, B, rate, seed):
    """graphrun's mask at training step 1 (what the op harness runs), drawn
    by the Python generator above; torch applies it the inverted way."""
    c = Case(name, node_x(shape) + "- {name: y, op: dropout, inputs: [x], rate: %g}\n" % rate, B, seed)
    x = c.add(rand(c.gen, B, *shape, scale=2.0))
    u = uniforms(seed, "y", 1, x.numel()).reshape(x.shape)
    mask = (u >= torch.tensor(rate, dtype=torch.float32).double()).double()
    c.extra["seed"] = seed
    c.extra["eval_output"] = flat(x)
    return c.finish(x * mask / (1 - rate))


def batch_norm_case(name, shape, B, momentum, eps, seed):
    """torch.nn.BatchNorm1d ([B, C]) or BatchNorm2d (NHWC, permuted) with
    graphrun's weights and running statistics: training (batch statistics,
    running ones updated) and evaluation. graphrun's momentum is the old
    value's weight, torch's the new one's."""
    C = shape[-1]
    c = Case(name, node_x(shape) + "- {name: y, op: batch_norm, inputs: [x], momentum: %g, epsilon: %g}\n" % (
        momentum, eps), B, seed)
    x = c.add(f32(rand(c.gen, B, *shape, scale=2.0) + 0.5))
    gamma, beta = c.add(f32(rand(c.gen, C) + 1.0)), c.add(rand(c.gen, C, scale=0.5))
    rmean = c.add(rand(c.gen, C, scale=0.3), grad=False)
    rvar = c.add(f32(torch.rand(C, generator=c.gen) + 0.5), grad=False)
    cls = torch.nn.BatchNorm1d if len(shape) == 1 else torch.nn.BatchNorm2d
    m = cls(C, eps=eps, momentum=1 - momentum)
    with torch.no_grad():
        m.weight.copy_(gamma)
        m.bias.copy_(beta)
        m.running_mean.copy_(rmean)
        m.running_var.copy_(rvar)
    to_torch = (lambda t: t) if len(shape) == 1 else (lambda t: t.permute(0, 3, 1, 2))
    from_torch = (lambda t: t) if len(shape) == 1 else (lambda t: t.permute(0, 2, 3, 1))
    m.eval()
    c.extra["eval_output"] = flat(from_torch(m(to_torch(x))))
    m.train()
    y = from_torch(m(to_torch(x)))
    c.extra["state_after"] = {"3": flat(m.running_mean), "4": flat(m.running_var)}
    return c.finish(y, lambda: [x.grad, m.weight.grad, m.bias.grad, None, None])


def main():
    cases = []
    cases.append(conv_case("conv2d valid 3x3, direct sums", 2, 6, 5, 3, 4, (3, 3), seed=1))
    cases.append(conv_case("conv2d same, even kernel, TensorFlow's split", 2, 5, 6, 2, 3, (2, 2), padding="same", seed=2))
    cases.append(conv_case("conv2d same, stride 2 on even sizes", 2, 6, 8, 3, 5, (3, 3), (2, 2), "same", seed=3))
    cases.append(conv_case("conv2d dilation 2, unfolded patches", 2, 7, 6, 4, 3, (3, 3), padding="same",
                           dilation=(2, 2), seed=4))
    cases.append(conv_case("conv2d 32 filters, four cells at once", 2, 8, 9, 1, 32, (3, 3), padding="same", seed=5))
    cases.append(conv_case("conv2d 20 filters, stride [1, 2]", 2, 5, 7, 2, 20, (3, 3), (1, 2), "same", seed=6))
    cases.append(conv_case("conv2d 1x1", 2, 3, 4, 5, 3, (1, 1), seed=7))
    cases.append(conv_case("conv2d 5x3 valid, strides [2, 1], unfolded", 2, 9, 7, 3, 6, (5, 3), (2, 1), seed=8))
    cases.append(pool_case("max_pool2d 2x2", "max_pool2d", 2, 6, 5, 3, (2, 2), seed=11))
    cases.append(pool_case("max_pool2d 3x3 stride 2 same", "max_pool2d", 2, 6, 7, 2, (3, 3), (2, 2), "same", seed=12))
    cases.append(pool_case("avg_pool2d 2x2", "avg_pool2d", 2, 6, 5, 3, (2, 2), seed=13))
    cases.append(pool_case("avg_pool2d 3x2 strides [2, 1] same", "avg_pool2d", 2, 5, 6, 2, (3, 2), (2, 1), "same",
                           seed=14))
    c = Case("global_avg_pool", node_x([4, 3, 5]) + "- {name: y, op: global_avg_pool, inputs: [x]}\n", 2, 21)
    cases.append(c.finish(c.add(rand(c.gen, 2, 4, 3, 5)).mean(dim=(1, 2))))
    c = Case("flatten", node_x([2, 3, 2]) + "- {name: y, op: flatten, inputs: [x]}\n", 3, 22)
    cases.append(c.finish(c.add(rand(c.gen, 3, 2, 3, 2)).reshape(3, -1)))
    cases.append(elementwise_case("leaky_relu default", "leaky_relu", "", [7], lambda x: F.leaky_relu(x, 0.01), seed=23))
    cases.append(elementwise_case("leaky_relu 0.3", "leaky_relu", ", alpha: 0.3", [7],
                                  lambda x: F.leaky_relu(x, 0.3), seed=24))
    cases.append(elementwise_case("gelu exact", "gelu", "", [7], lambda x: F.gelu(x), seed=25))
    cases.append(elementwise_case("gelu tanh", "gelu", ", approximate: tanh", [7],
                                  lambda x: F.gelu(x, approximate="tanh"), seed=26))
    cases.append(elementwise_case("log_softmax", "log_softmax", "", [2, 6], lambda x: F.log_softmax(x, dim=-1),
                                  seed=27))
    c = Case("embedding", "- {name: l, op: input, data: labels}\n"
             "- {name: y, op: embedding, inputs: [l], input_dim: 7, output_dim: 5}\n", 6, 28)
    idx = c.add(torch.tensor([3, 0, 6, 3, 5, 1]), "i32")
    table = c.add(rand(c.gen, 7, 5))
    cases.append(c.finish(F.embedding(idx, table)))
    c = Case("mse", "- {name: a, op: input, data: images, shape: [2, 3]}\n"
             "- {name: b, op: input, data: images, shape: [2, 3]}\n- {name: y, op: mse, inputs: [a, b]}\n", 3, 29)
    a, b = c.add(rand(c.gen, 3, 2, 3)), c.add(rand(c.gen, 3, 2, 3))
    cases.append(c.finish(F.mse_loss(a, b)))
    c = Case("layer_norm", node_x([2, 6]) + "- {name: y, op: layer_norm, inputs: [x], epsilon: 0.001}\n", 3, 30)
    x = c.add(rand(c.gen, 3, 2, 6, scale=2.0))
    gamma, beta = c.add(rand(c.gen, 6)), c.add(rand(c.gen, 6))
    cases.append(c.finish(F.layer_norm(x, (6,), gamma, beta, eps=0.001)))
    for kind in ["gru", "rnn", "lstm"]:
        for reverse in [False, True]:
            cases.append(recurrent_case("%s B=3 T=5 I=4 H=6%s, as torch.nn.%s" % (
                kind, " reverse" if reverse else "", kind.upper()), kind, 3, 5, 4, 6, reverse, 40 + reverse))
    cases.append(recurrent_case("gru B=33 T=3 I=2 H=17 (two blocks, odd sizes)", "gru", 33, 3, 2, 17, False, 42))
    cases.append(dropout_case("dropout 0.4, graphrun's mask", [7], 3, 0.4, 50))
    cases.append(dropout_case("dropout 0.25 over several blocks of the stream", [5, 11], 3, 0.25, 51))
    cases.append(batch_norm_case("batch_norm [B, C] as torch.nn.BatchNorm1d", [6], 5, 0.9, 1e-5, 60))
    cases.append(batch_norm_case("batch_norm NHWC as torch.nn.BatchNorm2d", [3, 4, 5], 2, 0.8, 1e-3, 61))
    cases.append(batch_norm_case("batch_norm over 300 rows (two blocks)", [10, 10, 3], 3, 0.5, 1e-5, 62))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    doc = {"about": "written by tools/torch_fixtures.py with PyTorch %s in float64; graphrun layouts" % torch.__version__,
           "cases": cases}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("%s: %d cases, %d bytes" % (os.path.relpath(OUT), len(cases), os.path.getsize(OUT)))


main()
