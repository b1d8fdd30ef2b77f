"""A team's own PyTorch trainer for consort: a small CNN on MNIST.

The node runs this file as a long-lived child process (sandboxed: no network,
read-only data) and talks to it through the consort helper module:

    python3 train.py --data DIR --party 0 --parties 3 --alpha 0.5

reads the MNIST IDX files in DIR (train-images-idx3-ubyte.gz, ...), keeps this
party's non-IID share of the training set (Dirichlet(alpha) label skew, the
same split on every party for the same --seed), and serves the node's train
and evaluate requests. ``--parties 1`` is the centralised baseline (all the
data). ``--init FILE`` writes the initial weights as safetensors and exits:
the coordinator publishes that file and pins its SHA-256 in the manifest.
"""

import argparse
import gzip
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import consort


class Net(nn.Module):
    """28x28 -> conv 3x3 (8) -> pool -> conv 3x3 (16) -> pool -> 64 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1 = nn.Linear(16 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def read_idx(path):
    """An IDX file (optionally gzipped) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack_from(">HBB", data, 0)
    if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack_from(">" + "I" * ndim, data, 4)
    count = int(np.prod(dims))
    off = 4 + 4 * ndim
    if len(data) - off != count:
        raise ValueError(f"{path}: size does not match its dimensions")
    return np.frombuffer(data, dtype=np.uint8, offset=off).reshape(dims)


def load(data_dir, split, limit):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))[:limit]
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))[:limit]
    x = torch.from_numpy(((x.astype(np.float32) / 255.0) - 0.1307) / 0.3081).unsqueeze(1)
    return x, torch.from_numpy(y.astype(np.int64))


def dirichlet_split(labels, parties, alpha, seed):
    """Per-party index lists: each class is divided among the parties in
    Dirichlet(alpha) proportions (label skew; small alpha = more skew)."""
    rng = np.random.default_rng(seed)
    shares = [[] for _ in range(parties)]
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        p = rng.dirichlet([alpha] * parties)
        cuts = (np.cumsum(p)[:-1] * len(idx)).astype(int)
        for i, part in enumerate(np.split(idx, cuts)):
            shares[i].extend(part.tolist())
    return [np.sort(np.array(s, dtype=np.int64)) for s in shares]


def evaluate(model, x, y):
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for lo in range(0, len(y), 1000):
            out = model(x[lo : lo + 1000])
            loss_sum += F.cross_entropy(out, y[lo : lo + 1000], reduction="sum").item()
            correct += (out.argmax(1) == y[lo : lo + 1000]).sum().item()
    return {"examples": len(y), "correct": int(correct), "loss_sum": float(loss_sum)}


def train(model, x, y, task):
    s = task.settings
    torch.manual_seed(task.seed)
    global_params = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"])
    mu = s.get("prox_mu", 0.0)
    model.train()
    for _ in range(s["epochs"]):
        perm = torch.randperm(len(y))
        correct, loss_sum = 0, 0.0
        for lo in range(0, len(y), s["batch_size"]):
            b = perm[lo : lo + s["batch_size"]]
            out = model(x[b])
            loss = F.cross_entropy(out, y[b])
            loss_sum += loss.item() * len(b)
            correct += (out.argmax(1) == y[b]).sum().item()
            if mu > 0:  # FedProx: mu/2 ||w - w_global||^2
                loss = loss + mu / 2 * sum(((p - g) ** 2).sum() for p, g in zip(model.parameters(), global_params))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {"examples": len(y), "correct": int(correct), "loss_sum": float(loss_sum)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", help="directory of the MNIST IDX files")
    ap.add_argument("--party", type=int, default=0)
    ap.add_argument("--parties", type=int, default=1)
    ap.add_argument("--alpha", type=float, default=0.5, help="Dirichlet label skew")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=60000, help="use the first N training images")
    ap.add_argument("--test-limit", type=int, default=10000, help="held-out: the first N test images")
    ap.add_argument("--init", help="write initial weights (safetensors) to this file and exit")
    args = ap.parse_args()

    torch.set_num_threads(1)  # the node shares the machine; one core per trainer
    if args.init:
        torch.manual_seed(args.seed)
        consort.save_file(args.init, Net().state_dict(), {"format": "pt"})
        return

    x, y = load(args.data, "train", args.train_limit)
    if args.parties > 1:
        mine = dirichlet_split(y.numpy(), args.parties, args.alpha, args.seed)[args.party]
        x, y = x[mine], y[mine]
    tx, ty = load(args.data, "test", args.test_limit)
    print(f"party {args.party}: {len(y)} training images, labels {np.bincount(y.numpy(), minlength=10).tolist()}")

    model = Net()
    for task in consort.tasks(as_torch=True):
        model.load_state_dict(task)  # strict: names and shapes must match
        if task.kind == "train":
            metrics = train(model, x, y, task)
            consort.send(model.state_dict(), metrics)
        else:
            consort.send(None, evaluate(model, tx, ty))


if __name__ == "__main__":
    main()
