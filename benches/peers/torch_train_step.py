"""PyTorch peer of `gzbench bench train-step`: the same model and training step.

Models are those of the parity fixture (`torch_parity.py`, gzbench's architectures with its
parameter names): `cnn-small` (per width: conv3x3 no bias -> BatchNorm2d -> ReLU -> 2x2 max-pool;
global average pool; Linear(width, 1)) and `resnet` (resnet-18 basic blocks, 3x3 stride-1 stem,
no max-pool, widths 64..512 times --width-multiplier).
Step: forward, BCE-with-logits loss, backward, AdamW (lr 1e-3, weight decay 1e-2, betas
0.9/0.999, eps 1e-8; PyTorch's default multi-tensor implementation on CUDA), on one fixed random
batch; with `--forward-only`, the evaluation forward pass instead (eval-mode batch norm, no
gradients). TF32 is off for convolutions and matrix products (`--tf32` turns it on), because
gzbench computes in full fp32 (cuDNN FMA math). Prints mean ms/step and a final `ms_per_step=`
line.

Install: pip install torch --index-url https://download.pytorch.org/whl/cpu
"""

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_parity import CnnSmall, Net, ResNet  # noqa: E402

# torch_parity pins one thread and deterministic algorithms for its fixture; a timing run
# uses PyTorch's defaults.
torch.use_deterministic_algorithms(False)


def build(a):
    if a.backbone == "cnn-small":
        return Net(CnnSmall(3, [int(w) for w in a.widths.split(",")]))
    if a.backbone == "resnet":
        dims = [max(1, round(w * a.width_multiplier)) for w in (64, 128, 256, 512)]
        return Net(ResNet(3, [2, 2, 2, 2], dims))
    raise SystemExit(f"unknown backbone {a.backbone}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--widths", default="32,64,128")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--backbone", default="cnn-small", help="cnn-small or resnet")
    p.add_argument("--width-multiplier", type=float, default=1.0)
    p.add_argument("--tf32", action="store_true")
    p.add_argument(
        "--forward-only",
        action="store_true",
        help="time the evaluation forward pass (model.eval(), torch.no_grad()) instead",
    )
    a = p.parse_args()
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(a).to(dev)
    model.train(not a.forward_only)
    x = torch.rand(a.batch, 3, a.size, a.size, device=dev)
    y = torch.randint(0, 2, (a.batch,), device=dev).float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = nn.BCEWithLogitsLoss()
    ms = []
    loss = None
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        if a.forward_only:
            with torch.no_grad():
                loss = model(x).mean().item()  # synchronises the device
        else:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            loss = loss.item()  # synchronises the device
        if i >= a.warmup:
            ms.append((time.perf_counter() - t) * 1e3)
    mean = sum(ms) / len(ms)
    print(
        f"torch {torch.__version__} {'eval-forward' if a.forward_only else 'train-step'} {a.backbone} batch {a.batch} 3x{a.size}x{a.size} "
        f"on {a.device} ({torch.get_num_threads()} threads): mean {mean:.1f} ms/step, "
        f"median {statistics.median(ms):.1f} ({a.steps} steps after {a.warmup} warm-up; loss {loss:.4f})"
    )
    print(f"ms_per_step={mean:.3f}")


if __name__ == "__main__":
    main()
