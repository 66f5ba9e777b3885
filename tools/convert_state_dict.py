#!/usr/bin/python3
"""Convert a PyTorch state_dict (.pt/.pth) into an ebmlab checkpoint (HDF5).

The reference checkpoint (any ebmlab checkpoint of the target architecture, e.g. the
ckpt-1.h5 of a 1-step run) fixes the tensor names, shapes, dtypes and order; the output
holds only the model group, which is what a stage's `init = "..."` reads. Layout:
docs/hdf5-layout.md; reader: kernel/store/checkpoint.cpp.
"""
import argparse
import datetime
import hashlib
import os
import re
import sys

import h5py
import numpy as np

TOOL = "tools/convert_state_dict.py"
FORMAT_VERSION = 1  # kernel/store/checkpoint.hpp kCheckpointFormatVersion
# ebmlab's Model standardizes its input per channel itself; a PyTorch model has no such buffers.
INPUT_BUFFERS = ("input_mean", "input_inv_std")
NESTED_KEYS = ("state_dict", "model")

EPILOG = """\
Loading is safe by default: torch.load(..., weights_only=True) (PyTorch >= 1.13) only
rebuilds tensors and plain containers and refuses any other pickled object. Files that
also pickle arbitrary objects (argparse namespaces, numpy scalars) are refused; re-save
the bare state_dict, or pass --trust-pickle for a file you trust (it may run code).

Exit codes: 0 written (or --dry-run complete), 2 the state_dict does not fit the reference
or an input is unreadable.

examples:
  convert_state_dict.py robust.pt robust.h5 --like runs/probe/main/ckpt-1.h5 \\
      --map '^model\\.=backbone.' --input-mean 0.4914,0.4822,0.4465 --input-std 0.2471,0.2435,0.2616
  convert_state_dict.py net.pt net.h5 --like ref.h5 --by-order --dry-run
"""


class Failure(Exception):
    """A problem with the inputs; reported on stderr, exit code 2."""


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="convert_state_dict.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT.pt", help="torch.save'd state_dict (may be nested under 'state_dict' or 'model')")
    p.add_argument("output", metavar="OUTPUT.h5", help="checkpoint to write (atomically: temporary file, then rename)")
    p.add_argument("--like", required=True, metavar="REFERENCE_CKPT.h5",
                   help="an ebmlab checkpoint of the target architecture: gives names, shapes, dtypes and order")
    p.add_argument("--map", action="append", default=[], metavar="REGEX=REPL",
                   help="rename source tensors with re.sub(REGEX, REPL, name), in the order given; "
                        "split at the last '=' (repeatable)")
    p.add_argument("--by-order", action="store_true",
                   help="pair the i-th floating tensor of the state_dict with the i-th floating model tensor "
                        "(state_dict order: each module's parameters, then its buffers), ignoring names; "
                        "num_batches_tracked is skipped")
    p.add_argument("--variant", metavar="NAME", help="the checkpoint's 'variant' attribute (default: the reference's)")
    p.add_argument("--input-mean", metavar="V[,V...]",
                   help="per-channel input mean the published model expects (one value, or one per channel)")
    p.add_argument("--input-std", metavar="V[,V...]",
                   help="per-channel input std (stored as input_inv_std = 1/std); "
                        "--input-mean 0 --input-std 1 for a model that takes raw data-range inputs")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load with weights_only=False: runs arbitrary pickled code; only for files you trust")
    p.add_argument("--dry-run", action="store_true", help="print the mapping table; write nothing")
    return p.parse_args(argv)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- source ------------------------------------------------------------------------------

def load_state_dict(path, trust_pickle):
    import pickle
    import torch
    if not os.path.isfile(path):
        raise Failure(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "WeightsUnpickler error:" in message:  # the safe loader met something other than tensors
            message = "the safe loader refused it: " + message.split("WeightsUnpickler error:", 1)[1].strip()
            message += " (re-save the bare state_dict, or if you trust the file: --trust-pickle)"
        raise Failure(f"{path}: torch.load failed: {message}") from None
    while isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in NESTED_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise Failure(f"{path}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    tensors = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            continue  # e.g. metadata entries next to the tensors
        name = key[len("module."):] if key.startswith("module.") else key  # DataParallel
        if name in tensors:
            raise Failure(f"{path}: '{key}' and another entry are both '{name}' once 'module.' is stripped")
        tensors[name] = value.detach()
    if not tensors:
        raise Failure(f"{path}: no tensors found (top-level keys: {', '.join(map(str, list(obj)[:12]))})")
    return tensors


# ---- reference ---------------------------------------------------------------------------

def insertion_order(group):
    """The group's member names in the order they were created, or None when unknown.
    HDF5 lists a group by name. A group with tracked creation order can be iterated in it;
    an old-style group (the default, which the kernel writes) keeps its link names in a
    local heap, appended in insertion order (HDF5 File Format Specification: superblock
    v0/1, version 1 object header, Symbol Table Message 0x0011, Local Heap "HEAP")."""
    names = set(group.keys())
    try:
        if group.id.get_create_plist().get_link_creation_order() & h5py.h5p.CRT_ORDER_TRACKED:
            out = []
            group.id.links.iterate(lambda n: out.append(n.decode()), idx_type=h5py.h5.INDEX_CRT_ORDER)
            return out
    except (AttributeError, ValueError, RuntimeError):
        pass
    try:
        at = h5py.h5o.get_info(group.id).addr
    except AttributeError:  # h5py builds on HDF5 >= 1.12 report tokens, not addresses
        return None
    with open(group.file.filename, "rb") as raw:
        def read(offset, n):
            raw.seek(offset)
            return raw.read(n)

        def number(b):
            return int.from_bytes(b, "little")
        sb = read(0, 16)
        if sb[:8] != b"\x89HDF\r\n\x1a\n" or sb[8] > 1:
            return None
        so, sl = sb[13], sb[14]  # sizes of offsets and lengths
        head = read(at, 16)
        if head[0] != 1:
            return None  # a version 2 object header: a new-style group without tracked order
        blocks, heap = [(at + 16, number(head[8:12]))], None
        while blocks and heap is None:
            start, length = blocks.pop(0)
            pos = start
            while pos + 8 <= start + length:
                kind, size = number(read(pos, 2)), number(read(pos + 2, 2))
                data = read(pos + 8, size)
                if kind == 0x11:
                    heap = number(data[so:2 * so])
                elif kind == 0x10:
                    blocks.append((number(data[:so]), number(data[so:so + sl])))
                pos += 8 + size
        if heap is None or read(heap, 4) != b"HEAP":
            return None
        h = read(heap + 8, 2 * sl + so)
        segment = read(number(h[2 * sl:2 * sl + so]), number(h[:sl]))
    out = []
    for token in segment.split(b"\0"):
        name = token.decode("utf-8", "replace")
        if name in names and name not in out:
            out.append(name)
    return out if len(out) == len(names) else None


def read_reference(path):
    if not os.path.isfile(path):
        raise Failure(f"{path}: no such reference checkpoint")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise Failure(f"{path}: not an HDF5 file") from None
    with f:
        attrs = dict(f.attrs)
        if "format_version" not in attrs or "model" not in f:
            raise Failure(f"{path}: not an ebmlab checkpoint (no format_version attribute or no /model group)")
        if int(attrs["format_version"]) > FORMAT_VERSION:
            raise Failure(f"{path}: checkpoint format_version {int(attrs['format_version'])} is newer than this tool "
                          f"writes ({FORMAT_VERSION})")
        model, order = [], insertion_order(f["model"])
        for name, ds in f["model"].items():
            td = ds.attrs.get("torch_dtype", b"")
            model.append({"name": name, "shape": tuple(ds.shape), "dtype": ds.dtype, "data": ds[()],
                          "torch_dtype": td.decode() if isinstance(td, bytes) else str(td)})
        optimizer_shapes = {}
        if "optimizer" in f:
            for idx, group in f["optimizer"].items():
                for key in ("momentum_buffer", "exp_avg"):
                    if key in group:
                        optimizer_shapes[int(idx)] = tuple(group[key].shape)
    text = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
    return {"model": model, "order": order, "variant": text(attrs.get("variant", b"")),
            "ebmlab_version": text(attrs.get("ebmlab_version", b"")), "optimizer_shapes": optimizer_shapes}


def creation_order(ref, path):
    """The model's tensors in the kernel's write order (named_parameters, then named_buffers),
    checked against what else the file says about it. Returns (params, buffers)."""
    ordered = ref["order"]
    if ordered is None:
        raise Failure(f"{path}: the order of the model's tensors cannot be read from this file; map by name (--map)")
    # The Model registers its own buffers before the backbone: input_mean is the first buffer.
    split = ordered.index(INPUT_BUFFERS[0]) if INPUT_BUFFERS[0] in ordered else len(ordered)
    params, buffers = ordered[:split], ordered[split:]
    shapes = {t["name"]: t["shape"] for t in ref["model"]}
    for i, shape in ref["optimizer_shapes"].items():  # optimizer/<i> follows parameter order
        if i >= len(params) or shapes[params[i]] != shape:
            raise Failure(f"{path}: the model's order could not be recovered (optimizer/{i} disagrees); map by name")
    for seq in (params, buffers):
        if not is_preorder(seq):
            raise Failure(f"{path}: the model's order could not be recovered from the file; map by name")
    return params, buffers


def is_preorder(names):
    """True when every module's tensors are contiguous, as a depth-first listing makes them."""
    seen_closed = set()
    previous = []
    for name in names:
        parts = name.split(".")[:-1]
        prefixes = [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
        for p in previous:
            if p not in prefixes:
                seen_closed.add(p)
        if any(p in seen_closed for p in prefixes):
            return False
        previous = prefixes
    return True


def state_dict_order(params, buffers):
    """Re-interleaves LibTorch's order (all parameters depth-first, then all buffers) into
    PyTorch's state_dict order (per module: its parameters, its buffers, then its children)."""
    def children(seq):
        out = []
        for n in seq:
            if "." in n and n.split(".", 1)[0] not in out:
                out.append(n.split(".", 1)[0])
        return out

    def merge(cp, cb):
        # Both lists are subsequences of the true child order; a child owning only buffers
        # between two parameter-owning children is placed by the buffer list.
        nodes = list(dict.fromkeys(cp + cb))
        after = {n: set() for n in nodes}
        for seq in (cp, cb):
            for a, b in zip(seq, seq[1:]):
                after[b].add(a)
        rank = lambda n: (cp.index(n) if n in cp else len(cp), cb.index(n) if n in cb else len(cb))  # noqa: E731
        out = []
        while nodes:
            ready = [n for n in nodes if after[n] <= set(out)]
            best = min(ready, key=rank)
            out.append(best)
            nodes.remove(best)
        return out

    def walk(prefix, ps, bs):
        out = [prefix + n for n in ps if "." not in n] + [prefix + n for n in bs if "." not in n]
        for c in merge(children(ps), children(bs)):
            sub = lambda seq: [n.split(".", 1)[1] for n in seq if "." in n and n.split(".", 1)[0] == c]  # noqa: E731
            out += walk(prefix + c + ".", sub(ps), sub(bs))
        return out

    return walk("", params, buffers)


# ---- mapping -----------------------------------------------------------------------------

def parse_maps(specs):
    maps = []
    for spec in specs:
        if "=" not in spec:
            raise Failure(f"--map {spec!r}: expected REGEX=REPL")
        pattern, repl = spec.rsplit("=", 1)
        try:
            maps.append((re.compile(pattern), repl, spec))
        except re.error as e:
            raise Failure(f"--map {spec!r}: bad regular expression: {e}") from None
    return maps


def rename(tensors, maps):
    out = {}
    for name, t in tensors.items():
        new = name
        for rx, repl, _ in maps:
            new = rx.sub(repl, new)
        if new in out:
            raise Failure(f"--map sends both '{out[new][0]}' and '{name}' to '{new}'")
        out[new] = (name, t)
    return out


def channel_values(spec, option, shape):
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        raise Failure(f"{option} {spec!r}: expected comma-separated numbers") from None
    channels = int(np.prod(shape))
    if len(values) == 1:
        values *= channels
    if len(values) != channels:
        raise Failure(f"{option}: {len(values)} values given, the model has {channels} input channels")
    return np.array(values, dtype=np.float64).reshape(shape)


def is_float(t):
    return t.is_floating_point()


def build_mapping(ref, source, args, ref_path):
    """One row per model tensor: where its values come from. Returns (rows, problems, unused)."""
    import torch
    renamed = rename(source, parse_maps(args.map))
    rows, problems, used = [], [], set()
    targets = {t["name"]: t for t in ref["model"]}

    def take(target, shown, tensor, note=""):
        shape = tuple(tensor.shape)
        if shape != target["shape"]:
            if target["name"] in INPUT_BUFFERS and tensor.numel() == int(np.prod(target["shape"])):
                tensor, note = tensor.reshape(target["shape"]), f"reshaped from {list(shape)}"
            else:
                problems.append(f"{target['name']}: source '{shown}' has shape {list(shape)}, "
                                f"the model expects {list(target['shape'])}")
                return
        if is_float(tensor) != (target["dtype"].kind == "f"):
            problems.append(f"{target['name']}: source '{shown}' is {tensor.dtype}, the model stores {target['dtype']}")
            return
        if str(tensor.dtype).replace("torch.", "") != str(target["dtype"]):
            note = (note + "; " if note else "") + f"cast from {tensor.dtype}"
        used.add(shown)
        rows.append((target["name"], target["shape"], shown, note, tensor))

    def from_reference(target, why):
        rows.append((target["name"], target["shape"], "(reference)", why, torch.from_numpy(np.array(target["data"]))))

    pending = []
    for target in ref["model"]:
        name = target["name"]
        by_name = not args.by_order or name in INPUT_BUFFERS or name.endswith("num_batches_tracked")
        spec = {"input_mean": args.input_mean, "input_inv_std": args.input_std}.get(name)
        if spec is not None:  # an explicit statement of the published model's preprocessing wins
            option = "--input-mean" if name == "input_mean" else "--input-std"
            v = channel_values(spec, option, target["shape"])
            if name == "input_inv_std":
                if (v <= 0).any():
                    raise Failure(f"--input-std {spec!r}: every std must be > 0")
                v = 1.0 / v
            rows.append((name, target["shape"], option, spec, torch.from_numpy(v)))
        elif name in renamed and by_name:
            take(target, renamed[name][0], renamed[name][1])
        elif name in INPUT_BUFFERS:
            from_reference(target, "the reference's data statistics")
        elif name.endswith("num_batches_tracked"):
            from_reference(target, "a counter, not a weight")
        elif args.by_order and is_float(torch.from_numpy(np.array(target["data"]))):
            pending.append(target)
        else:
            problems.append(f"missing {name} {list(target['shape'])}")

    if args.by_order:
        params, buffers = creation_order(ref, ref_path)
        order = [n for n in state_dict_order(params, buffers) if n in {t["name"] for t in pending}]
        queue = [(k, t) for k, (orig, t) in renamed.items()
                 if orig not in used and is_float(t) and not k.endswith("num_batches_tracked")]
        if len(queue) != len(order):
            problems.append(f"--by-order: the state_dict has {len(queue)} floating tensors to place, "
                            f"the model expects {len(order)}")
        for i, name in enumerate(order):
            if i >= len(queue):
                problems.append(f"missing {name} {list(targets[name]['shape'])} (state_dict exhausted)")
                continue
            key, tensor = queue[i]
            take(targets[name], renamed[key][0], tensor, note=f"#{i}")

    position = {t["name"]: i for i, t in enumerate(ref["model"])}
    rows.sort(key=lambda r: position[r[0]])
    # --by-order skips counters by design; they are not worth a warning.
    unused = [orig for orig, t in renamed.values() if orig not in used and (is_float(t) or not args.by_order)]
    return rows, problems, unused


def print_table(rows, out):
    width = max([len(r[0]) for r in rows] + [12])
    swidth = max([len(r[2]) for r in rows] + [6])
    print(f"{'model tensor':<{width}}  {'shape':<18}  {'source':<{swidth}}  note", file=out)
    for name, shape, src, note, _ in rows:
        print(f"{name:<{width}}  {str(list(shape)):<18}  {src:<{swidth}}  {note}", file=out)


# ---- output ------------------------------------------------------------------------------

def write_string_attr(obj, name, value):
    """The kernel's string attribute (h5util.cpp): fixed length = the UTF-8 byte count, NUL-
    terminated type (so the value fills it), one NUL for the empty string. h5py's own string
    types are NUL-padded, and HDF5 drops the last byte converting those to the kernel's."""
    raw = value.encode("utf-8") or b"\0"
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(raw))
    tid.set_cset(h5py.h5t.CSET_UTF8)
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    attr = h5py.h5a.create(obj.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    attr.write(np.array(raw, dtype=f"S{len(raw)}"), mtype=tid)


def write_checkpoint(path, ref, rows, provenance):
    import torch
    targets = {t["name"]: t for t in ref["model"]}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in provenance:
                if isinstance(value, int):
                    f.attrs.create(key, value, dtype=np.int64)
                else:
                    write_string_attr(f, key, value)
            # Written in the reference's creation order, as the kernel does: --by-order reads it.
            data = {r[0]: r[4] for r in rows}
            for t in sorted(ref["model"], key=lambda t: ref["order"].index(t["name"]) if ref["order"] else 0):
                tensor = data[t["name"]]
                if tensor.dtype == torch.bfloat16:
                    tensor = tensor.float()
                arr = tensor.cpu().numpy().astype(t["dtype"], order="C")  # keeps 0-d tensors scalar
                ds = f.create_dataset("model/" + t["name"], data=arr)
                write_string_attr(ds, "torch_dtype", targets[t["name"]]["torch_dtype"] or "Float")
        fd = os.open(tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fd = os.open(folder, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return sha256_file(path)


def main(argv):
    args = parse_args(argv)
    try:
        ref = read_reference(args.like)
        source = load_state_dict(args.input, args.trust_pickle)
        rows, problems, unused = build_mapping(ref, source, args, args.like)
    except Failure as e:
        print(f"convert_state_dict: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print_table(rows, sys.stdout)
    if unused:
        print(f"convert_state_dict: warning: {len(unused)} source tensor(s) not used: {', '.join(unused)}", file=sys.stderr)
    if problems:
        print(f"convert_state_dict: {args.input} does not fit {args.like} "
              f"({'--by-order' if args.by_order else 'by name' + (' after --map' if args.map else '')}):\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 2
    if any(r[2] == "(reference)" and r[0] in INPUT_BUFFERS for r in rows):
        mean = next(r[4] for r in rows if r[0] == "input_mean").flatten().tolist()
        print(f"convert_state_dict: note: inputs are standardized with the reference's statistics "
              f"(mean {[round(v, 4) for v in mean]}); if the published model expects other normalization "
              f"pass --input-mean/--input-std (0 and 1 for none)", file=sys.stderr)
    if args.dry_run:
        return 0
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Attributes the kernel's reader requires (format_version, step, stage, step_in_stage) and
    # the rest of its writer's set; a converted model starts afresh: step 0, no optimizer state.
    provenance = [
        ("format_version", FORMAT_VERSION), ("kind", "ebmlab checkpoint"),
        ("variant", args.variant if args.variant is not None else ref["variant"]),
        ("ebmlab_version", ref["ebmlab_version"]), ("created", now), ("optimizer", ""),
        ("step", 0), ("stage", 0), ("step_in_stage", 0),
        ("converted_by", TOOL), ("converted_from", os.path.basename(args.input)),
        ("converted_from_sha256", sha256_file(args.input)), ("converted_at", now),
        ("converted_like", os.path.basename(args.like)), ("converted_like_sha256", sha256_file(args.like)),
        ("converted_mapping", "by-order" if args.by_order else "by-name"),
        ("converted_maps", " ".join(args.map)),
    ]
    try:
        sha = write_checkpoint(args.output, ref, rows, provenance)
    except OSError as e:
        print(f"convert_state_dict: {args.output}: cannot write: {e}", file=sys.stderr)
        return 2
    print(f"{args.output}  {len(rows)} tensors  sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
