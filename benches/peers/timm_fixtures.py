"""Encoder fixtures built by timm itself, for gzbench's weight import (`src/model/import/`).

Unlike `timm_fixture.py` (PyTorch rewrites with timm's key names), every network here is
`timm.create_model(name, pretrained=False, num_classes=0, **kwargs)`: timm's own modules,
parameter names, initialisation and forward pass. The kwargs are the registered model's own
constructor arguments (timm merges them over the variant's defaults); nothing is re-implemented.

Fixtures (`src/model/fixtures/timm/`):

* `resnet18.safetensors`: `resnet18` (BasicBlock, layers 2/2/2/2, ImageNet stem: 7x7 stride-2
  conv, BatchNorm, ReLU, 3x3 stride-2 max-pool) with `channels=(64, 16, 32, 64)` (timm's
  argument; the stem is always 64 wide), float32. Full width is 11.2M parameters (45 MB).
* `convnext_nano.safetensors`: `convnext_nano` (depths 2/2/8/2, `conv_mlp`) with
  `dims=(8, 16, 32, 64)`, float32. Full width is 15M parameters.
* `efficientnet_b0.safetensors`: `efficientnet_b0` at full size (4.0M parameters) with
  `drop_path_rate=0`, stored as float16 (8 MB): the model's float values are rounded to float16
  first, and the expected features are computed from the rounded values, so the file is exact.
* `reference.safetensors`: per model `<name>.input` (a seeded `2 x 3 x 64 x 64` normal draw)
  and `<name>.features`, the pooled features (`num_classes=0` output) in evaluation mode.
* `reference.json`: versions, seed, per model the timm kwargs, file, dtype and the gzbench
  `model:` section that loads it; and `manifests`: for timm's full-size variants (the
  architectures of Zoobot's encoders) every state-dict key with its shape, and the gzbench
  `model:` section expected to take it (null where none does).

Values: conv / linear weights are timm's initialisation (seeded); norm weights and biases and
ConvNeXt's layer scale `gamma` (timm starts it at 1e-6, which would hide the blocks) are drawn
anew, then BatchNorm running statistics are calibrated on seeded random batches (cumulative
average), so every tensor of the file shapes the output.

Run from the repository root (CPU is enough):
`pip install torch timm safetensors && python benches/peers/timm_fixtures.py`.
"""

import json
import os
import re

import torch
import timm
from safetensors.torch import save_file

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "src", "model", "fixtures", "timm")
SEED = 20240611
INPUT_SHAPE = (2, 3, 64, 64)

# name, timm kwargs, stored dtype, the gzbench `model:` section that loads the file
CASES = [
    (
        "resnet18",
        {"channels": [64, 16, 32, 64]},
        torch.float32,
        {"backbone": "resnet", "stem": "imagenet", "depths": [2, 2, 2, 2], "dims": [64, 16, 32, 64]},
    ),
    (
        "convnext_nano",
        {"dims": [8, 16, 32, 64]},
        torch.float32,
        {"backbone": "convnext", "depths": [2, 2, 8, 2], "dims": [8, 16, 32, 64]},
    ),
    (
        "efficientnet_b0",
        {"drop_path_rate": 0.0},
        torch.float16,
        {"backbone": "efficientnet"},
    ),
]

# timm's full-size variants behind Zoobot's encoders (and neighbours), with the gzbench
# `model:` section that takes their state dict, or None where no gzbench backbone does.
MANIFESTS = [
    ("resnet18", {"backbone": "resnet", "stem": "imagenet"}),
    ("resnet34", {"backbone": "resnet", "stem": "imagenet", "depths": [3, 4, 6, 3]}),
    ("resnet50", None),
    ("efficientnet_b0", {"backbone": "efficientnet"}),
    ("efficientnet_b1", {"backbone": "efficientnet", "depths": [2, 3, 3, 4, 4, 5, 2]}),
    (
        "efficientnet_b2",
        {"backbone": "efficientnet", "depths": [2, 3, 3, 4, 4, 5, 2], "width_multiplier": 1.1},
    ),
    ("efficientnetv2_s", None),
    ("convnext_pico", {"backbone": "convnext", "depths": [2, 2, 6, 2], "dims": [64, 128, 256, 512]}),
    ("convnext_nano", {"backbone": "convnext"}),
    ("convnext_tiny", {"backbone": "convnext", "depths": [3, 3, 9, 3], "dims": [96, 192, 384, 768]}),
    ("convnext_small", {"backbone": "convnext", "depths": [3, 3, 27, 3], "dims": [96, 192, 384, 768]}),
    ("convnext_base", {"backbone": "convnext", "depths": [3, 3, 27, 3], "dims": [128, 256, 512, 1024]}),
    ("convnext_large", {"backbone": "convnext", "depths": [3, 3, 27, 3], "dims": [192, 384, 768, 1536]}),
]


def randomise(model, g):
    """New norm affine values and ConvNeXt layer scales; BatchNorm statistics calibrated."""
    bns = []
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, torch.nn.BatchNorm2d):
                bns.append(m)
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.5 + 0.5 * torch.rand(p.shape, generator=g))
        if bns:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
            model.train()
            for _ in range(4):
                model(torch.randn((8,) + INPUT_SHAPE[1:], generator=g))
            for m in bns:
                m.momentum = 0.1
    model.eval()


def encoder_state(model, dtype):
    """The state dict with floating tensors rounded to `dtype` (counters keep int64)."""
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach()
        if v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous().clone()
    return out


def save(tensors, path):
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata={"format": "pt"})  # one key: byte-reproducible
    os.replace(tmp, path)
    os.chmod(path, 0o644)


def case(i, name, kwargs, dtype, gzbench, reference):
    torch.manual_seed(SEED + i)
    g = torch.Generator().manual_seed(SEED + i)
    model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    randomise(model, g)
    state = encoder_state(model, dtype)
    # The forward pass sees exactly the stored values.
    model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()})
    model.eval()
    x = torch.randn(INPUT_SHAPE, generator=g)
    with torch.no_grad():
        features = model(x)
    path = os.path.join(OUT, f"{name}.safetensors")
    save(state, path)
    reference[f"{name}.input"] = x.contiguous()
    reference[f"{name}.features"] = features.contiguous()
    params = sum(v.numel() for k, v in state.items() if v.is_floating_point())
    print(
        f"{name}: {len(state)} tensors, {params} values, {os.path.getsize(path)} bytes; "
        f"features {tuple(features.shape)}, max |f| {features.abs().max().item():.4g}"
    )
    return {
        "timm_kwargs": kwargs,
        "file": os.path.basename(path),
        "dtype": str(dtype).replace("torch.", ""),
        "model": gzbench,
        "input": f"{name}.input",
        "features": f"{name}.features",
    }


def manifest(name):
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, num_classes=0)
    return {k: list(v.shape) for k, v in model.state_dict().items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"timm": timm.__version__, "torch": torch.__version__, "seed": SEED, "models": {}}
    reference = {}
    for i, (name, kwargs, dtype, gzbench) in enumerate(CASES):
        meta["models"][name] = case(i, name, kwargs, dtype, gzbench, reference)
    meta["manifests"] = {
        name: {"model": gzbench, "state": manifest(name)} for name, gzbench in MANIFESTS
    }
    save(reference, os.path.join(OUT, "reference.safetensors"))
    path = os.path.join(OUT, "reference.json")
    text = json.dumps(meta, indent=1, sort_keys=True)
    # One line per list of numbers (shapes, depths), so a manifest is one line per tensor.
    text = re.sub(r"\[\s+([-\d.,\s]*?)\s+\]", lambda m: "[" + ", ".join(m.group(1).split()).replace(",,", ",") + "]", text)
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
