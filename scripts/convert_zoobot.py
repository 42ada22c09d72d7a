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
"""

import argparse
import os
import sys
import tempfile

DEFAULT_PREFIXES = ["model.encoder.", "encoder.", "model.0."]
SHOW = 8


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
    return kept


def list_keys(src, allow_pickle=False):
    tensors = load_checkpoint(src, allow_pickle)
    for k in sorted(tensors):
        v = tensors[k]
        print(f"{k} {list(v.shape)} {str(v.dtype).replace('torch.', '')}")
    print(f"{len(tensors)} tensors")


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
    print("self-test passed")


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
