"""PyTorch peer of `gzbench bench train-step`: the same cnn-small model and training step.

Model (src/model/cnn_small.rs + head): per width, conv3x3 (no bias, padding 1) -> BatchNorm2d
(eps 1e-5, momentum 0.1) -> ReLU -> 2x2 max-pool; global average pool; Linear(width, 1).
Step: forward, BCE-with-logits loss, backward, AdamW (lr 1e-3, weight decay 1e-2, betas 0.9/0.999,
eps 1e-8), on one fixed random batch. Prints mean ms/step and a final `ms_per_step=` line.

Install: pip install torch --index-url https://download.pytorch.org/whl/cpu
"""

import argparse
import statistics
import time

import torch
from torch import nn


def cnn_small(channels, widths):
    layers = []
    for w in widths:
        layers += [
            nn.Conv2d(channels, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w, eps=1e-5, momentum=0.1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--widths", default="32,64,128")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = cnn_small(3, [int(w) for w in a.widths.split(",")]).to(dev)
    model.train()
    x = torch.rand(a.batch, 3, a.size, a.size, device=dev)
    y = torch.randint(0, 2, (a.batch,), device=dev).float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = nn.BCEWithLogitsLoss()
    ms = []
    loss = None
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x).squeeze(1), y)
        loss.backward()
        opt.step()
        loss = loss.item()  # synchronises the device
        if i >= a.warmup:
            ms.append((time.perf_counter() - t) * 1e3)
    mean = sum(ms) / len(ms)
    print(
        f"torch {torch.__version__} train-step cnn-small batch {a.batch} 3x{a.size}x{a.size} "
        f"on {a.device} ({torch.get_num_threads()} threads): mean {mean:.1f} ms/step, "
        f"median {statistics.median(ms):.1f} ({a.steps} steps after {a.warmup} warm-up; loss {loss:.4f})"
    )
    print(f"ms_per_step={mean:.3f}")


if __name__ == "__main__":
    main()
