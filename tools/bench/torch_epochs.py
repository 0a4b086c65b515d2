"""What the PyTorch benchmarks share: epochs drawn as graphrun draws them."""
import time

import numpy as np
import torch


def train_epochs(model, opt, xtr, ytr, batch, epochs, rng):
    """Train `epochs` epochs of ceil(n / batch) steps; a batch that runs past
    the shuffled order crosses into a reshuffled one, as graphrun's sampler
    does. Returns each epoch's seconds."""
    n = xtr.shape[0]
    per_epoch = (n + batch - 1) // batch
    order, pos = rng.permutation(n), 0
    epoch_seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for _ in range(per_epoch):
            take = min(batch, n - pos)
            idx = order[pos:pos + take]
            pos += take
            if take < batch:
                order, pos = rng.permutation(n), batch - take
                idx = np.concatenate([idx, order[:pos]])
            i = torch.from_numpy(idx)
            loss = torch.nn.functional.cross_entropy(model(xtr[i]), ytr[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch_seconds.append(time.perf_counter() - t0)
    return epoch_seconds
