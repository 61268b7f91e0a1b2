"""Trained weights as a folder of small, checksummed parts: parameters in bfloat16, other model state (BatchNorm
statistics) in float32, packed whole into .npz parts of at most 14 MiB (no pickle), listed with their sha256 in
`manifest.json` beside the training config. A machine that returns only small files can send a ResNet-34 back.

    save_weights(model, config, "weights/")      # -> manifest dict
    model = load_weights("weights/")             # verifies every part, rebuilds the model (inference mode)
"""
import hashlib, io, json
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp
import ml_dtypes
from flax import nnx
from squiggles_nb.train import TrainConfig, new_model

FORMAT = "squiggles_nb-weights-1"
MANIFEST = "manifest.json"
PART_BYTES = 14 * 2 ** 20


def _flat(tree):
    return [(jax.tree_util.keystr(p), a) for p, a in jax.tree_util.tree_flatten_with_path(tree)[0]]


def save_weights(model, config: TrainConfig, folder, part_bytes: int = PART_BYTES) -> dict:
    "Write `model`'s parameters (bfloat16) and other state (float32) to `folder` in parts of <= `part_bytes`."
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    _, params, rest = nnx.split(model, nnx.Param, ...)
    arrays = [("params" + k, np.asarray(jax.device_get(a)).astype(ml_dtypes.bfloat16), "bfloat16") for k, a in _flat(params)]
    arrays += [("rest" + k, np.asarray(jax.device_get(a)).astype(np.float32), "float32") for k, a in _flat(rest)]
    parts, current, size = [], [], 0
    for name, a, dt in arrays:
        if a.nbytes > part_bytes: raise ValueError(f"{name} ({a.nbytes} bytes) does not fit in a part of {part_bytes} bytes")
        if current and size + a.nbytes > part_bytes - 65536:   # headroom for the npz headers
            parts.append(current); current, size = [], 0
        current.append((name, a, dt)); size += a.nbytes
    if current: parts.append(current)
    manifest = dict(format=FORMAT, config=config.to_dict(), parts=[], arrays=[])
    for i, part in enumerate(parts):
        buf = io.BytesIO()
        np.savez(buf, **{f"a{j}": (a.view(np.uint16) if dt == "bfloat16" else a) for j, (_, a, dt) in enumerate(part)})
        data = buf.getvalue()
        fname = f"part{i:02d}.npz"
        (folder / fname).write_bytes(data)
        manifest["parts"].append(dict(file=fname, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
        manifest["arrays"] += [dict(name=n, part=fname, key=f"a{j}", dtype=dt, shape=list(a.shape)) for j, (n, a, dt) in enumerate(part)]
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_weights(folder, dtype: str | None = None) -> nnx.Module:
    "The model saved in `folder` by `save_weights` (inference mode); every part's sha256 is checked first."
    folder = Path(folder)
    mf = folder / MANIFEST
    if not mf.exists(): raise FileNotFoundError(f"no {MANIFEST} in {folder}: not a weights folder")
    manifest = json.loads(mf.read_text())
    if manifest.get("format") != FORMAT: raise ValueError(f"{mf}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    loaded = {}
    for p in manifest["parts"]:
        f = (folder / p["file"]).resolve()
        if f.parent != folder.resolve(): raise ValueError(f"{mf}: part {p['file']!r} lies outside {folder}")
        data = f.read_bytes()
        if hashlib.sha256(data).hexdigest() != p["sha256"]: raise ValueError(f"{f}: sha256 does not match the manifest")
        with np.load(io.BytesIO(data), allow_pickle=False) as z: loaded[p["file"]] = {k: z[k] for k in z.files}
    values = {}
    for a in manifest["arrays"]:
        v = loaded[a["part"]][a["key"]]
        values[a["name"]] = v.view(ml_dtypes.bfloat16) if a["dtype"] == "bfloat16" else v
    config = TrainConfig.from_dict(manifest["config"])
    if dtype is not None: config = TrainConfig.from_dict(dict(config.to_dict(), dtype=dtype))
    graphdef, params, rest = nnx.split(nnx.eval_shape(lambda: new_model(config)), nnx.Param, ...)
    def fill(prefix, tree):
        leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
        out = []
        for path, like in leaves:
            name = prefix + jax.tree_util.keystr(path)
            if name in values:
                v = values.pop(name)
                if tuple(v.shape) != tuple(like.shape): raise ValueError(f"{name}: shape {v.shape}, model expects {like.shape}")
                out.append(jnp.asarray(v.astype(np.float32), like.dtype))
            else:
                raise ValueError(f"{folder}: no array {name} for this {config.model}")
        return jax.tree_util.tree_unflatten(treedef, out)
    params, rest = fill("params", params), fill("rest", rest)
    if values: raise ValueError(f"{folder}: arrays the model does not have: {sorted(values)[:5]}")
    m = nnx.merge(graphdef, params, rest)
    m.name, m.resolution = config.model, config.resolution
    m.eval()
    return m
