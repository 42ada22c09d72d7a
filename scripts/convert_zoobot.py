#!/usr/bin/env python3
"""Convert a Zoobot / timm PyTorch checkpoint into a safetensors encoder file for gzbench.

Usage:
    python scripts/convert_zoobot.py pytorch_model.bin out.safetensors [--strip-prefix PREFIX ...]
    python scripts/convert_zoobot.py checkpoint.ckpt --list
    python scripts/convert_zoobot.py --self-test

The checkpoint is read with `torch.load(map_location="cpu", weights_only=True)` (no code from
the file runs; `--allow-pickle` lifts that for checkpoints you trust). Accepted layouts: a plain
state dict, or a dict holding one under `state_dict` (PyTorch Lightning `.ckpt`) or `model`;
a `.safetensors` input is read as is. Floating-point tensors are written as float32, every
tensor contiguous; integer tensors (BatchNorm `num_batches_tracked`) keep their dtype.

Key prefixes: Zoobot's Hugging Face encoders (`mwalmsley/zoobot-encoder-convnext_nano` and
friends, loaded by Zoobot with `timm.create_model("hf_hub:...")`) store plain timm names
(`stem.0.weight`, `stages.0.blocks.0.conv_dw.weight`, ...) in `pytorch_model.bin` /
`model.safetensors`: nothing to strip. Zoobot's Lightning checkpoints (`ZoobotTree`,
`FinetuneableZoobot*`) keep the timm encoder under `encoder.` (`self.encoder =
timm.create_model(...)`) beside the head under `head.`. Without `--strip-prefix`, the first of
`model.encoder.`, `encoder.`, `model.0.` that some key starts with is stripped and keys without
it (the head, loss buffers) are dropped; if no key has one of them, all keys are kept as they
are. With `--strip-prefix P` (repeatable; `--strip-prefix ""` keeps every key unchanged) only
keys starting with one of the given prefixes are kept, with it removed.

gzbench then loads the file with `Params::import_encoder(file, "backbone.", "")`, which lists
every missing, unexpected or mis-shaped tensor if the file does not fit the configured backbone
(classifier keys such as `fc.*` / `head.fc.*` are ignored).

Families: after converting (and with `--list`), the script reads the architecture off the
tensor names and shapes and prints the gzbench `model:` section that takes the file, or why
none does:

* timm ResNets with basic blocks (`resnet18`, `resnet34`; Zoobot's `zoobot-encoder-resnet18`):
  `{ backbone: resnet, stem: imagenet }` plus `depths` / `dims` where they differ from
  resnet-18's. Bottleneck ResNets (`resnet50`, `resnet101`: `conv3` keys) and deep-stem
  variants (`conv1.0.weight`) have no gzbench backbone.
* timm ConvNeXts (`convnext_pico` ... `convnext_large`, either MLP form):
  `{ backbone: convnext, depths, dims }` (nano's layout is the default). ConvNeXt-V2 (`grn`)
  is not supported.
* timm EfficientNets `efficientnet_b0` (Zoobot's GZ DECaLS / DESI backbone) and the B1-B8
  scalings of it: `{ backbone: efficientnet }` plus `depths` / `width_multiplier`;
  EfficientNet-V2, `tf_` (asymmetric "same" padding: names load but outputs differ) and lite
  variants are not supported.
* Anything else (MaxViT, ViT, ...): no gzbench backbone.

An encoder whose stem takes other than 3 channels (Zoobot's `-greyscale-` encoders take 1) is
reported: gzbench's images have 3 channels. `--self-test` checks this reading against the key /
shape lists of timm's full-size models in `src/model/fixtures/timm/reference.json` (written by
`benches/peers/timm_fixtures.py` with timm itself) and the committed timm fixture files.
"""

import argparse
import json
import os
import re
import struct
import sys
import tempfile

DEFAULT_PREFIXES = ["model.encoder.", "encoder.", "model.0."]
SHOW = 8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMM_FIXTURES = os.path.join(ROOT, "src", "model", "fixtures", "timm")

# gzbench's defaults (src/model/resnet.rs, convnext.rs, efficientnet.rs): left out of a section.
RESNET_DEPTHS, RESNET_DIMS = [2, 2, 2, 2], [64, 128, 256, 512]
CONVNEXT_DEPTHS, CONVNEXT_DIMS = [2, 2, 8, 2], [80, 160, 320, 640]
# EfficientNet-B0: per stage (kernel, stride, expansion, width), blocks; stem 32, head 1280.
EFFNET_STAGES = [(3, 1, 1, 16), (3, 2, 6, 24), (5, 2, 6, 40), (3, 2, 6, 80), (5, 1, 6, 112),
                 (5, 2, 6, 192), (3, 1, 6, 320)]
EFFNET_DEPTHS = [1, 2, 2, 3, 3, 4, 1]
# timm's channel multipliers of efficientnet_b0 ... b8
EFFNET_MULTIPLIERS = [1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2]
IGNORED = ("fc.", "head.fc.", "head.weight", "head.bias", "classifier.", "last_linear.")


class ConvertError(Exception):
    pass


def load_checkpoint(path, allow_pickle=False):
    """The state dict (name -> tensor) of a checkpoint file."""
    import torch

    if not os.path.isfile(path):
        raise ConvertError(f"checkpoint {path!r} does not exist (or is not a file)")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except Exception as e:  # noqa: BLE001 - report any reader failure with the file name
            raise ConvertError(f"cannot read safetensors file {path!r}: {e}") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as e:  # noqa: BLE001
        hint = (
            "" if allow_pickle else
            " (if it holds objects other than tensors and you trust the file, pass --allow-pickle)"
        )
        raise ConvertError(f"cannot load checkpoint {path!r}: {e}{hint}") from e
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module):
                inner = inner.state_dict()
            if isinstance(inner, dict) and any(torch.is_tensor(v) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict):
        raise ConvertError(f"checkpoint {path!r} holds a {type(obj).__name__}, not a state dict")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and torch.is_tensor(v)}
    if not tensors:
        keys = ", ".join(map(str, list(obj)[:SHOW])) or "nothing"
        raise ConvertError(
            f"checkpoint {path!r} has no tensors (top-level keys: {keys}); "
            "expected a state dict or a dict with `state_dict` / `model`"
        )
    return tensors


def strip_prefixes(tensors, prefixes=None):
    """(kept tensors with the prefix removed, prefix used or None, number of keys dropped)."""
    if prefixes is None:
        found = next((p for p in DEFAULT_PREFIXES if any(k.startswith(p) for k in tensors)), None)
        if found is None:
            return dict(tensors), None, 0
        prefixes = [found]
    out = {}
    ordered = sorted(prefixes, key=len, reverse=True)
    for k, v in tensors.items():
        p = next((p for p in ordered if k.startswith(p)), None)
        if p is None:
            continue
        name = k[len(p):]
        if name in out:
            raise ConvertError(f"two tensors become `{name}` after stripping {prefixes}")
        out[name] = v
    if not out:
        raise ConvertError(
            f"no key starts with {' or '.join(repr(p) for p in prefixes)}; keys are e.g. "
            + ", ".join(sorted(tensors)[:SHOW])
        )
    return out, "|".join(prefixes), len(tensors) - len(out)


def prepare(tensors):
    """float32 (floating point) or unchanged (integers), contiguous, not sharing storage."""
    import torch

    out = {}
    for k, v in tensors.items():
        v = v.detach()
        if v.is_floating_point():
            v = v.to(torch.float32)
        elif v.dtype == torch.bool:
            v = v.to(torch.uint8)
        out[k] = v.contiguous().clone()
    return out


def convert(src, dst, prefixes=None, allow_pickle=False, quiet=False):
    from safetensors.torch import save_file

    tensors = load_checkpoint(src, allow_pickle)
    kept, used, dropped = strip_prefixes(tensors, prefixes)
    kept = prepare(kept)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = dst + ".tmp"
    save_file(kept, tmp, metadata={"format": "pt"})  # one key, so the bytes are reproducible
    os.replace(tmp, dst)
    if not quiet:
        how = f"stripped prefix {used!r}" if used is not None else "names unchanged"
        print(f"wrote {len(kept)} tensors to {dst} ({how}; {dropped} other keys dropped)")
        for k in sorted(kept)[:SHOW]:
            print(f"  {k} {list(kept[k].shape)}")
        if len(kept) > SHOW:
            print(f"  ... and {len(kept) - SHOW} more")
        print(describe_text({k: list(v.shape) for k, v in kept.items()}))
    return kept


def list_keys(src, allow_pickle=False):
    tensors = load_checkpoint(src, allow_pickle)
    for k in sorted(tensors):
        v = tensors[k]
        print(f"{k} {list(v.shape)} {str(v.dtype).replace('torch.', '')}")
    print(f"{len(tensors)} tensors")
    kept, _, _ = strip_prefixes(tensors)
    print(describe_text({k: list(v.shape) for k, v in kept.items()}))


# ---------------------------------------------------------------- families
def round_channels(c, multiplier):
    """timm's `round_channels` / `make_divisible(c * multiplier, 8)`."""
    v = c * multiplier
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


def _blocks(shapes, pattern):
    """{stage: number of blocks} of keys matching `pattern` (groups: stage, block)."""
    found = {}
    for k in shapes:
        m = re.match(pattern, k)
        if m:
            s, b = int(m.group(1)), int(m.group(2))
            found[s] = max(found.get(s, 0), b + 1)
    return found


def _section(backbone, **fields):
    out = {"backbone": backbone}
    out.update({k: v for k, v in fields.items() if v is not None})
    return out


def describe(shapes):
    """The gzbench `model:` section that takes a timm encoder with these key -> shape, or a
    string saying why none does. Keys are the encoder's (prefix stripped)."""
    keys = [k for k in shapes if not k.endswith("num_batches_tracked") and not k.startswith(IGNORED)]
    has = lambda p: any(k.startswith(p) for k in keys)  # noqa: E731
    if has("layer1.") and (has("conv1.") or has("conv1.0.")):
        if "conv1.weight" not in shapes:
            return "a deep-stem ResNet (conv1.0 ...): no gzbench backbone has this stem"
        if any(re.match(r"layer\d+\.\d+\.conv3\.", k) for k in keys):
            return "a Bottleneck ResNet (resnet50 / resnet101: conv3 in every block): gzbench's resnet has basic blocks only"
        stem = shapes["conv1.weight"]
        kinds = {3: "small", 7: "imagenet"}
        if stem[2] not in kinds:
            return f"a ResNet with a {stem[2]}x{stem[3]} stem conv: gzbench's stems are 3x3 or 7x7"
        stages = _blocks(keys, r"layer(\d+)\.(\d+)\.conv1\.weight")
        n = len(stages)
        depths = [stages.get(i + 1, 0) for i in range(n)]
        dims = [shapes[f"layer{i + 1}.0.conv2.weight"][0] for i in range(n)]
        if stem[0] != dims[0]:
            return f"a ResNet whose stem ({stem[0]} channels) is not as wide as layer1 ({dims[0]}): gzbench's stem has layer1's width"
        return _section(
            "resnet",
            stem=None if kinds[stem[2]] == "small" else "imagenet",
            depths=None if depths == RESNET_DEPTHS else depths,
            dims=None if dims == RESNET_DIMS else dims,
        ), stem[1]
    if has("stem.0.") and has("stages."):
        if any(".grn." in k for k in keys):
            return "a ConvNeXt-V2 (GRN layers): gzbench's convnext is ConvNeXt (V1)"
        if not has("head.norm.") or not any(k.endswith(".gamma") for k in keys):
            return "a ConvNeXt without timm's head.norm or layer scale (gamma): not gzbench's layout"
        stem = shapes["stem.0.weight"]
        if stem[2:] != [4, 4] or has("stages.0.downsample."):
            return "a ConvNeXt with another stem (patch 4 expected): not gzbench's layout"
        stages = _blocks(keys, r"stages\.(\d+)\.blocks\.(\d+)\.")
        n = len(stages)
        depths = [stages.get(i, 0) for i in range(n)]
        dims = [shapes[f"stages.{i}.blocks.0.conv_dw.weight"][0] for i in range(n)]
        return _section(
            "convnext",
            depths=None if depths == CONVNEXT_DEPTHS else depths,
            dims=None if dims == CONVNEXT_DIMS else dims,
        ), stem[1]
    if has("conv_stem.") and has("blocks.") and has("conv_head."):
        stages = _blocks(keys, r"blocks\.(\d+)\.(\d+)\.")
        if len(stages) != len(EFFNET_STAGES) or any(k.endswith(".conv_exp.weight") for k in keys):
            return "an EfficientNet of another layout (V2 / fused MBConv, or not 7 stages): gzbench's efficientnet is B0's family"
        depths = [stages.get(i, 0) for i in range(len(EFFNET_STAGES))]
        stem, head = shapes["conv_stem.weight"], shapes["conv_head.weight"]
        for m in EFFNET_MULTIPLIERS:
            widths = [round_channels(w, m) for (_, _, _, w) in EFFNET_STAGES]
            ok = stem[0] == round_channels(32, m) and head[0] == round_channels(1280, m)
            for i, (k, _, e, _) in enumerate(EFFNET_STAGES):
                last = "conv_pw" if e == 1 else "conv_pwl"
                dw = shapes.get(f"blocks.{i}.0.conv_dw.weight")
                out = shapes.get(f"blocks.{i}.0.{last}.weight")
                ok = ok and dw is not None and dw[2:] == [k, k] and out is not None and out[0] == widths[i]
            if ok:
                return _section(
                    "efficientnet",
                    depths=None if depths == EFFNET_DEPTHS else depths,
                    width_multiplier=None if m == 1.0 else m,
                ), stem[1]
        return "an EfficientNet whose widths or kernels are not B0's scaled by one of timm's channel multipliers"
    sample = ", ".join(sorted(keys)[:3])
    return f"no gzbench backbone has these names (e.g. {sample}); gzbench takes timm ResNet (basic blocks), ConvNeXt and EfficientNet-B0-family encoders"


def yaml_section(section):
    parts = []
    for k, v in section.items():
        v = "[" + ", ".join(str(x) for x in v) + "]" if isinstance(v, list) else v
        parts.append(f"{k}: {v}")
    return "{ " + ", ".join(parts) + " }"


def describe_text(shapes):
    found = describe(shapes)
    if isinstance(found, str):
        return f"gzbench: does not load: {found}"
    section, channels = found
    text = f"gzbench: loads with model: {yaml_section(section)}"
    if channels != 3:
        text += f" -- but its stem takes {channels} channels and gzbench's images have 3: it does not load into a gzbench run"
    return text


def safetensors_shapes(path):
    """key -> shape from a safetensors header (no torch needed)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return {k: v["shape"] for k, v in header.items() if k != "__metadata__"}


def zoobot_round_trip():
    """timm's own resnet18 / convnext_nano / efficientnet_b0, saved as Zoobot's Lightning
    checkpoints save them (`encoder.` + a head), convert back to exactly timm's state dict."""
    try:
        import timm
    except ImportError:
        return "timm not installed: the round trip of timm models was not run (pip install timm)"
    import torch
    from safetensors.torch import load_file

    cases = [
        ("resnet18", {"channels": [64, 16, 32, 64]}, {"backbone": "resnet", "stem": "imagenet", "dims": [64, 16, 32, 64]}),
        ("convnext_nano", {"dims": [8, 16, 32, 64]}, {"backbone": "convnext", "dims": [8, 16, 32, 64]}),
        ("efficientnet_b0", {}, {"backbone": "efficientnet"}),
    ]
    with tempfile.TemporaryDirectory() as d:
        for name, kwargs, want in cases:
            torch.manual_seed(0)
            enc = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
            state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
            state["head.1.weight"] = torch.zeros(3, enc.num_features)
            ckpt = os.path.join(d, f"{name}.ckpt")
            torch.save({"state_dict": state, "epoch": 1}, ckpt)
            out = os.path.join(d, f"{name}.safetensors")
            kept = convert(ckpt, out, quiet=True)
            got = load_file(out)
            assert set(got) == set(enc.state_dict()), name
            for k, v in enc.state_dict().items():
                assert torch.equal(got[k], v), (name, k)
            assert describe({k: list(v.shape) for k, v in kept.items()}) == (want, 3), name
    return f"{len(cases)} timm {timm.__version__} encoders converted from Lightning checkpoints"


def check_families():
    """describe() against timm's own key / shape lists (committed fixtures)."""
    with open(os.path.join(TIMM_FIXTURES, "reference.json")) as f:
        ref = json.load(f)
    seen = 0
    for name, m in sorted(ref["manifests"].items()):
        found = describe(m["state"])
        want = m["model"]
        if want is None:
            assert isinstance(found, str), (name, found)
        else:
            assert found == (want, 3), (name, found, want)
        seen += 1
    defaults = {
        "resnet": {"depths": RESNET_DEPTHS, "dims": RESNET_DIMS},
        "convnext": {"depths": CONVNEXT_DEPTHS, "dims": CONVNEXT_DIMS},
        "efficientnet": {"depths": EFFNET_DEPTHS},
    }
    for name, m in sorted(ref["models"].items()):
        shapes = safetensors_shapes(os.path.join(TIMM_FIXTURES, m["file"]))
        want = {k: v for k, v in m["model"].items() if defaults[m["model"]["backbone"]].get(k) != v}
        assert describe(shapes) == (want, 3), (name, describe(shapes), want)
        seen += 1
    # A greyscale stem is reported; a key outside every family is not taken.
    grey = dict(ref["manifests"]["convnext_nano"]["state"])
    grey["stem.0.weight"] = [80, 1, 4, 4]
    assert "takes 1 channels" in describe_text(grey), describe_text(grey)
    assert "no gzbench backbone" in describe_text({"stem.conv1.weight": [64, 3, 3, 3]})
    return seen


def self_test():
    """Builds tiny checkpoints in a temp dir, converts them and checks the round trip."""
    import torch
    from safetensors.torch import load_file

    g = torch.Generator().manual_seed(0)
    enc = {
        "stem.0.weight": torch.randn((4, 3, 4, 4), generator=g, dtype=torch.float16),
        "stages.0.blocks.0.mlp.fc1.weight": torch.randn((16, 4, 1, 1), generator=g),
        "head.norm.weight": torch.randn((4,), generator=g, dtype=torch.float64),
        "bn1.num_batches_tracked": torch.tensor(7),
    }
    # A transposed view sharing storage with another tensor (safetensors refuses shared ones).
    base = torch.randn((3, 5), generator=g)
    enc["layer1.0.conv1.weight"] = base
    enc["layer1.0.conv2.weight"] = base.t()
    head = {"head.1.weight": torch.randn((2, 4), generator=g)}
    with tempfile.TemporaryDirectory() as d:
        def check(out, prefix_used):
            got = load_file(out)
            assert set(got) == set(enc), (sorted(got), prefix_used)
            for k, v in enc.items():
                want = v.to(torch.float32) if v.is_floating_point() else v
                assert got[k].dtype == want.dtype, (k, got[k].dtype)
                assert torch.equal(got[k], want), k

        # 1. A Lightning checkpoint: encoder under `encoder.`, head beside it (auto prefix).
        ckpt = os.path.join(d, "zoobot.ckpt")
        state = {f"encoder.{k}": v for k, v in enc.items()}
        state.update(head)
        torch.save({"state_dict": state, "epoch": 3, "global_step": 10}, ckpt)
        out = os.path.join(d, "auto.safetensors")
        convert(ckpt, out, quiet=True)
        check(out, "auto")
        # 2. Explicit prefix.
        out = os.path.join(d, "explicit.safetensors")
        convert(ckpt, out, prefixes=["encoder."], quiet=True)
        check(out, "encoder.")
        # 3. A plain timm state dict (Hugging Face pytorch_model.bin): names unchanged.
        plain = os.path.join(d, "pytorch_model.bin")
        torch.save(enc, plain)
        out = os.path.join(d, "plain.safetensors")
        convert(plain, out, quiet=True)
        check(out, None)
        # 4. `model`-wrapped with a `model.encoder.` prefix; and a safetensors input.
        wrapped = os.path.join(d, "wrapped.pt")
        torch.save({"model": {f"model.encoder.{k}": v for k, v in enc.items()}}, wrapped)
        out = os.path.join(d, "wrapped.safetensors")
        convert(wrapped, out, quiet=True)
        check(out, "model.encoder.")
        again = os.path.join(d, "again.safetensors")
        convert(out, again, prefixes=[""], quiet=True)
        check(again, "")
        # 5. Clear errors.
        for path, prefixes, want in [
            (os.path.join(d, "missing.bin"), None, "does not exist"),
            (ckpt, ["backbone."], "no key starts with 'backbone.'"),
        ]:
            try:
                convert(path, os.path.join(d, "x.safetensors"), prefixes=prefixes, quiet=True)
            except ConvertError as e:
                assert want in str(e), str(e)
            else:
                raise AssertionError(f"no error for {path} {prefixes}")
        empty = os.path.join(d, "empty.ckpt")
        torch.save({"epoch": 1}, empty)
        try:
            load_checkpoint(empty)
        except ConvertError as e:
            assert "has no tensors" in str(e) and "epoch" in str(e), str(e)
        else:
            raise AssertionError("no error for a checkpoint without tensors")
    families = check_families()
    zoobot = zoobot_round_trip()
    print(f"self-test passed (families: {families} timm layouts read; {zoobot})")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="See the top of this file for Zoobot's key prefixes.",
    )
    ap.add_argument("checkpoint", nargs="?", help="pytorch_model.bin / .ckpt / .pt / .safetensors")
    ap.add_argument("out", nargs="?", help="output .safetensors file")
    ap.add_argument(
        "--strip-prefix",
        action="append",
        metavar="PREFIX",
        help="keep only keys starting with PREFIX, with it removed (repeatable; default: "
        + ", ".join(DEFAULT_PREFIXES)
        + ", first found)",
    )
    ap.add_argument("--list", action="store_true", help="list the checkpoint's keys and shapes")
    ap.add_argument(
        "--allow-pickle",
        action="store_true",
        help="torch.load with weights_only=False (runs code from the file: trusted files only)",
    )
    ap.add_argument("--self-test", action="store_true", help="convert tiny checkpoints and check")
    args = ap.parse_args(argv)
    try:
        if args.self_test:
            self_test()
        elif args.checkpoint is None:
            ap.error("give a checkpoint (and an output file), or --self-test")
        elif args.list:
            list_keys(args.checkpoint, args.allow_pickle)
        elif args.out is None:
            ap.error("give an output .safetensors file (or --list)")
        else:
            convert(args.checkpoint, args.out, args.strip_prefix, args.allow_pickle)
    except ConvertError as e:
        print(f"convert_zoobot: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
