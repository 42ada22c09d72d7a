"""PyTorch reference values for gzbench's models, heads and losses (the parity fixture).

Builds tiny `cnn-small`, `resnet`, `convnext` and `dieleman` networks in PyTorch with exactly
gzbench's parameter names (`backbone.<timm/torchvision name>`, `head.weight`), fills them with
seeded weights, runs forward + BCE-with-logits loss + backward on a fixed batch in train mode
(BatchNorm batch statistics), and writes weights, inputs, outputs, loss, every gradient and the
updated BatchNorm running statistics to `fixtures/torch_parity.safetensors`. It also evaluates
Zoobot's Dirichlet-multinomial loss (Pyro's `DirichletMultinomial.log_prob`, written out with
`torch.lgamma`) with its gradient, and Dieleman's tree-normalised GZ2 head with a gradient.

The Rust tests in `src/model/parity.rs` load the fixture and require relative error <= 1e-4.
Run: `pip install torch safetensors && python benches/peers/torch_parity.py`.

Key layout: `<net>.<param>` initial parameters and buffers, `<net>.input`, `<net>.target`,
`<net>.logits`, `<net>.loss`, `<net>.grad.<param>`, `<net>.after.<buffer>`;
`dm.*` Dirichlet-multinomial, `dieleman_head.*` tree normalisation.
"""

import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "torch_parity.safetensors")


# ---------------------------------------------------------------- backbones (gzbench names)
class Stage(nn.Module):
    def __init__(self, inp, out):
        super().__init__()
        self.conv = nn.Conv2d(inp, out, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out)


class CnnSmall(nn.Module):
    def __init__(self, channels, widths):
        super().__init__()
        chans = [channels] + widths
        self.stages = nn.ModuleList(Stage(a, b) for a, b in zip(chans, chans[1:]))
        self.out = widths[-1]

    def forward(self, x):
        for s in self.stages:
            x = F.relu(s.bn(s.conv(x)))
            if x.shape[2] >= 2 and x.shape[3] >= 2:
                x = F.max_pool2d(x, 2)
        return x.mean((2, 3))


class BasicBlock(nn.Module):
    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        s = x if self.downsample is None else self.downsample(x)
        return F.relu(h + s)


class ResNet(nn.Module):
    """torchvision names; 3x3 stride-1 stem, no max-pool."""

    def __init__(self, channels, depths, dims):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, dims[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(dims[0])
        inp = dims[0]
        for i, (d, w) in enumerate(zip(depths, dims)):
            blocks = []
            for b in range(d):
                blocks.append(BasicBlock(inp, w, 2 if i > 0 and b == 0 else 1))
                inp = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.n = len(depths)
        self.out = inp

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for i in range(self.n):
            x = getattr(self, f"layer{i + 1}")(x)
        return x.mean((2, 3))


class LayerNorm2d(nn.LayerNorm):
    """timm's LayerNorm2d: LayerNorm over channels of NCHW."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))  # exact erf GELU, as timm


class ConvNeXtBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 7, padding=3, groups=c, bias=True)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.mlp = Mlp(c)
        self.gamma = nn.Parameter(1e-6 * torch.ones(c))

    def forward(self, x):
        s = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)
        x = self.mlp(self.norm(x)).permute(0, 3, 1, 2)
        return s + x * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtStage(nn.Module):
    """Downsample (except the first stage), then `depth` blocks made by `block(channels)`."""

    def __init__(self, inp, out, depth, first, block=None):
        super().__init__()
        block = block or ConvNeXtBlock
        self.downsample = (
            nn.Identity()
            if first
            else nn.Sequential(LayerNorm2d(inp, eps=1e-6), nn.Conv2d(inp, out, 2, 2))
        )
        self.blocks = nn.Sequential(*[block(out) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class NormHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = LayerNorm2d(c, eps=1e-6)


class ConvNeXt(nn.Module):
    """timm names (stem.0/1, stages.i.downsample.0/1, stages.i.blocks.j.*, head.norm)."""

    def __init__(self, channels, depths, dims):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))
        prev = dims[0]
        stages = []
        for i, (d, c) in enumerate(zip(depths, dims)):
            stages.append(ConvNeXtStage(prev, c, d, i == 0))
            prev = c
        self.stages = nn.Sequential(*stages)
        self.head = NormHead(prev)
        self.out = prev

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = x.mean((2, 3), keepdim=True)
        return self.head.norm(x).flatten(1)


class Dieleman(nn.Module):
    def __init__(self, channels, size, dims, units, layers, pieces):
        super().__init__()
        spec = [(6, True), (5, True), (3, False), (3, True)]
        convs, inp, s = [], channels, size
        for (k, pool), w in zip(spec, dims):
            convs.append(nn.Conv2d(inp, w, k))
            s = s - k + 1
            if pool:
                s //= 2
            inp = w
        self.convs = nn.ModuleList(convs)
        self.pools = [p for _, p in spec]
        feats, dense = inp * s * s, []
        for _ in range(layers):
            dense.append(nn.Linear(feats, units * pieces))
            feats = units
        self.dense = nn.ModuleList(dense)
        self.units, self.pieces, self.out = units, pieces, feats

    def forward(self, x):
        for conv, pool in zip(self.convs, self.pools):
            x = F.relu(conv(x))
            if pool:
                x = F.max_pool2d(x, 2)
        x = x.flatten(1)
        for d in self.dense:
            x = d(x).reshape(x.shape[0], self.units, self.pieces).max(-1).values
        return x


class Net(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out, 1)

    def forward(self, x):
        return self.head(self.backbone(x)).squeeze(1)


# ---------------------------------------------------------------- fixture
def fill(net, g):
    """Seeded weights of a useful scale: weights N(0, 1/fan_in), norms 1 + N(0, 0.1^2),
    biases N(0, 0.1^2), layer scales 0.5 + N(0, 0.1^2) (so every branch matters)."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if p.dim() >= 2:
                p.copy_(r / math.sqrt(p[0].numel()))
            elif name.endswith("gamma"):
                p.copy_(0.5 + 0.1 * r)
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                p.copy_(1.0 + 0.1 * r)


def net_case(out, key, net, shape, g):
    fill(net, g)
    state = {k: v.detach().clone() for k, v in net.state_dict().items() if "num_batches" not in k}
    for k, v in state.items():
        out[f"{key}.{k}"] = v
    x = torch.randn(shape, generator=g)
    y = torch.tensor([1.0, 0.0])
    net.train()
    logits = net(x)
    loss = F.binary_cross_entropy_with_logits(logits, y)
    loss.backward()
    out[f"{key}.input"] = x
    out[f"{key}.target"] = y
    out[f"{key}.logits"] = logits.detach()
    out[f"{key}.loss"] = loss.detach().reshape(1)
    for k, p in net.named_parameters():
        out[f"{key}.grad.{k}"] = p.grad.detach().clone()
    for k, v in net.state_dict().items():
        if "running" in k:
            out[f"{key}.after.{k}"] = v.detach().clone()


# GZ2 in Kaggle order: answers per question and the (question, answer) each one requires
# (0-based), as in gzbench's `Tree::gz2()`.
GZ2_ANSWERS = [3, 2, 2, 2, 4, 2, 3, 7, 3, 3, 6]
GZ2_REQUIRES = [None, (0, 1), (1, 1), (1, 1), (1, 1), None, (0, 0), (5, 0), (1, 0), (3, 0), (3, 0)]


def slices():
    s, start = [], 0
    for n in GZ2_ANSWERS:
        s.append((start, start + n))
        start += n
    return s


def dirichlet_nll(conc, counts):
    """Per-question -log DirichletMultinomial (Pyro's log_prob, as Zoobot's dirichlet_loss)."""
    cols = []
    for a, b in slices():
        al, n = conc[:, a:b], counts[:, a:b]
        total, big_a = n.sum(1), al.sum(1)
        log_prob = (
            torch.lgamma(total + 1) + torch.lgamma(big_a) - torch.lgamma(total + big_a)
        ) + (torch.lgamma(n + al) - torch.lgamma(al) - torch.lgamma(n + 1)).sum(1)
        cols.append(-log_prob)
    return torch.stack(cols, 1)


def dm_case(out, g):
    logits = torch.randn((4, 37), generator=g, dtype=torch.float64).requires_grad_()
    conc = 1 + 100 * torch.sigmoid(logits)
    counts = torch.randint(0, 12, (4, 37), generator=g).to(torch.float64)
    counts[1, 3:5] = 0  # galaxy 1 has no votes for question 2
    counts[2, 18:25] = 0  # galaxy 2 has no votes for question 8 (odd-feature)
    nll = dirichlet_nll(conc, counts)
    loss = nll.sum(1).mean()
    loss.backward()
    out["dm.logits"] = logits.detach()
    out["dm.counts"] = counts
    out["dm.concentrations"] = conc.detach()
    out["dm.nll"] = nll.detach()
    out["dm.loss"] = loss.detach().reshape(1)
    out["dm.grad_logits"] = logits.grad.detach()


def dieleman_head_case(out, g):
    x = torch.randn((4, 37), generator=g).requires_grad_()
    w = torch.randn((4, 37), generator=g)
    r = F.relu(x)
    done = []
    for qi, (a, b) in enumerate(slices()):
        q = r[:, a:b] / (r[:, a:b].sum(1, keepdim=True) + 1e-12)
        req = GZ2_REQUIRES[qi]
        if req is not None:
            q = q * done[req[0]][:, req[1] : req[1] + 1]
        done.append(q)
    y = torch.cat(done, 1)
    (y * w).sum().backward()
    out["dieleman_head.input"] = x.detach()
    out["dieleman_head.weights"] = w
    out["dieleman_head.output"] = y.detach()
    out["dieleman_head.grad_input"] = x.grad.detach()


def main():
    from safetensors.torch import save_file  # only the fixture writer needs it

    g = torch.Generator().manual_seed(20240605)
    out = {}
    net_case(out, "cnn", Net(CnnSmall(3, [4, 8])), (2, 3, 16, 16), g)
    net_case(out, "resnet", Net(ResNet(3, [2, 2, 2, 2], [2, 4, 8, 16])), (2, 3, 16, 16), g)
    net_case(out, "convnext", Net(ConvNeXt(3, [1, 1], [4, 8])), (2, 3, 16, 16), g)
    dims, units = [4, 8, 16, 16], 8
    net_case(out, "dieleman", Net(Dieleman(3, 45, dims, units, 2, 2)), (2, 3, 45, 45), g)
    dm_case(out, g)
    dieleman_head_case(out, g)
    out = {k: v.contiguous() for k, v in out.items()}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    save_file(out, tmp, metadata={"torch": torch.__version__})
    os.replace(tmp, OUT)
    print(f"wrote {len(out)} tensors, {os.path.getsize(OUT)} bytes to {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
