"""Timm-format encoder fixtures for gzbench's weight import (`src/model/import.rs`).

Builds two tiny encoders in PyTorch with exactly timm's state-dict key names, fills them with
seeded random weights (fixed torch seed), adds the classifier head a timm checkpoint carries
(`fc.weight` / `fc.bias` for resnet, `head.fc.weight` / `head.fc.bias` for convnext) and saves
each with `safetensors.torch.save_file`:

* `src/model/fixtures/timm_resnet.safetensors`: gzbench's resnet layout (resnet-18 depths
  2/2/2/2, widths 64/128/256/512 x 1/32 = 2/4/8/16, 3x3 stride-1 stem), torchvision / timm names
  (`conv1.weight`, `bn1.running_mean`, `layer2.0.downsample.0.weight`, ...), including the
  `num_batches_tracked` counters a PyTorch state dict holds; BatchNorm running statistics are
  random too, so the buffers are checked.
* `src/model/fixtures/timm_convnext.safetensors`: timm's ConvNeXt with `conv_mlp=True` (the
  `convnext_nano` variant: LayerNorm2d block norm, MLP as 1x1 convs, so `mlp.fc1.weight` is
  `4c x c x 1 x 1`), depths 2/2/2/1, dims 4/8/16/32; `head.norm` is part of the encoder,
  `head.fc` the classifier.
* `src/model/fixtures/timm_reference.json`: per fixture the layout, the input (a
  `torch.linspace(-1, 1, N*C*H*W)` reshaped to `input_shape`), the float64 sum of every tensor
  in the file, and the encoder's pooled features (before the classifier, evaluation mode) for
  that input.

The Rust tests in `src/model/import.rs` import each file into the matching gzbench backbone,
compare the loaded values with these sums and the forward pass with these features (relative
error <= 1e-4).

Run from the repository root: `pip install torch safetensors && python benches/peers/timm_fixture.py`.
"""

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_parity import ConvNeXtStage, LayerNorm2d, NormHead, ResNet, fill  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "src", "model", "fixtures")
SEED = 20240611


# ---------------------------------------------------------------- timm ConvNeXt, conv_mlp=True
class ConvMlp(nn.Module):
    """timm's `Mlp(use_conv=True)`: 1x1 conv -> exact GELU -> 1x1 conv (keys fc1, fc2)."""

    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Conv2d(c, 4 * c, 1)
        self.fc2 = nn.Conv2d(4 * c, c, 1)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ConvMlpBlock(nn.Module):
    """timm's ConvNeXtBlock with conv_mlp: dw 7x7 -> LayerNorm2d -> ConvMlp -> gamma, + input."""

    def __init__(self, c):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 7, padding=3, groups=c, bias=True)
        self.norm = LayerNorm2d(c, eps=1e-6)
        self.mlp = ConvMlp(c)
        self.gamma = nn.Parameter(1e-6 * torch.ones(c))

    def forward(self, x):
        y = self.mlp(self.norm(self.conv_dw(x)))
        return x + y * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtConvMlp(nn.Module):
    """timm key names: stem.0/1, stages.i.downsample.0/1, stages.i.blocks.j.*, head.norm."""

    def __init__(self, channels, depths, dims):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6)
        )
        stages, prev = [], dims[0]
        for i, (d, c) in enumerate(zip(depths, dims)):
            stages.append(ConvNeXtStage(prev, c, d, i == 0, ConvMlpBlock))
            prev = c
        self.stages = nn.Sequential(*stages)
        self.head = NormHead(prev)
        self.out = prev

    def forward(self, x):
        x = self.stages(self.stem(x)).mean((2, 3), keepdim=True)
        return self.head.norm(x).flatten(1)


# ---------------------------------------------------------------- fixtures
def linspace_input(shape):
    n = 1
    for s in shape:
        n *= s
    return torch.linspace(-1.0, 1.0, n).reshape(shape)


def randomise_buffers(net, g):
    with torch.no_grad():
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def case(name, net, head_prefix, layout, input_shape, g):
    fill(net, g)
    randomise_buffers(net, g)
    net.eval()
    x = linspace_input(input_shape)
    with torch.no_grad():
        features = net(x)
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    # The classifier head of a timm checkpoint (not part of the encoder).
    classes = 3
    state[f"{head_prefix}weight"] = (torch.randn((classes, net.out), generator=g) / net.out**0.5).contiguous()
    state[f"{head_prefix}bias"] = (0.1 * torch.randn((classes,), generator=g)).contiguous()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"timm_{name}.safetensors")
    tmp = path + ".tmp"
    save_file(state, tmp, metadata={"format": "pt"})  # one key: byte-reproducible
    os.replace(tmp, path)
    os.chmod(path, 0o644)
    print(f"wrote {len(state)} tensors, {os.path.getsize(path)} bytes to {path}")
    return {
        "file": os.path.basename(path),
        **layout,
        "input_shape": list(input_shape),
        "sums": {k: float(v.double().sum()) for k, v in sorted(state.items())},
        "features": features.double().tolist(),
    }


def main():
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    ref = {"torch": torch.__version__, "seed": SEED}
    depths, dims = [2, 2, 2, 2], [2, 4, 8, 16]
    ref["resnet"] = case(
        "resnet",
        ResNet(3, depths, dims),
        "fc.",
        {"depths": depths, "dims": dims, "width_multiplier": 1 / 32},
        (2, 3, 16, 16),
        g,
    )
    depths, dims = [2, 2, 2, 1], [4, 8, 16, 32]
    ref["convnext"] = case(
        "convnext",
        ConvNeXtConvMlp(3, depths, dims),
        "head.fc.",
        {"depths": depths, "dims": dims},
        (2, 3, 32, 32),
        g,
    )
    path = os.path.join(OUT, "timm_reference.json")
    with open(path + ".tmp", "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {os.path.getsize(path)} bytes to {path}")


if __name__ == "__main__":
    main()
