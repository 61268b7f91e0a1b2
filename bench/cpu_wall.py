"""What `squiggles train --family sinenet --model cpu --max-minutes M` reaches, for variants of the cpu architecture.

Each variant replaces `MODELS["cpu"]` and trains exactly as the command does (`train.recipe_config("cpu")`, the `wsd`
schedule fitted to a wall-clock budget by `train(..., max_minutes=M)`), then is evaluated on 10,000 SineNet test
samples. The clock is the wall: run it on a quiet machine, one variant at a time. Besides the final accuracy it keeps
the training loss against images seen, which compares the variants' sample efficiency long before a run ends.

    python bench/cpu_wall.py --variant s2d --minutes 15 --jsonl F.jsonl      # one run, one JSON line
    python bench/cpu_wall.py --variant cpu --fields '{"decay_share": 0.5}'  # the recipe with other TrainConfig fields
    python bench/cpu_wall.py --report F.jsonl --out cpu_wall.json             # the table (and loss curves) as a result file

The recipe is today's: the runs in `results/cpu_wall.json` made before it took `micro_batches=2` (the cpu rows without
that field) trained on whole batches of 64.

Variants (all `PoolCNN`s, width 8):
  cpu  today's `CPUNet`: stages (1,), (2,), (4, 8), (16,) from the 60x60 image
  s2d  the image's 2x2 space-to-depth (30x30x4) into stages (2,), (4, 8), (16,): no full-resolution layer
  cpu5 `CPUNet` with a fifth stage (32,) at 4x4 (4x the parameters)
"""
import argparse, json, sys, time
from pathlib import Path
import numpy as np
import jax.numpy as jnp
from flax import nnx
import squiggles_nb.model as M
from squiggles_nb.model import PoolCNN, max_pool2, count_params
from squiggles_nb.train import recipe_config, train, evaluate, read_metrics
from squiggles_nb.data import Dataset
from common import write


HE = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")   # He init, as the library's models


class SpaceToDepthCNN(PoolCNN):
    "A PoolCNN on the 2x2 space-to-depth of the image: its first convolution sees 4 channels at half the resolution."
    def __init__(self, stages, *, width=8, num_classes=2, dtype=None, rngs):
        super().__init__(stages, width=width, num_classes=num_classes, dtype=dtype, rngs=rngs)
        self.convs[0] = nnx.Conv(4, stages[0][0] * width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False,
                                 kernel_init=HE, dtype=self.dtype, rngs=rngs)

    def __call__(self, images):
        x = jnp.asarray(images, jnp.float32); single = x.ndim == 2
        if single: x = x[None]
        N, H, W = x.shape
        x = x.reshape(N, H // 2, 2, W // 2, 2).transpose(0, 1, 3, 2, 4).reshape(N, H // 2, W // 2, 4)
        layer = 0
        for i, stage in enumerate(self.stages):
            if i: x = max_pool2(x)
            for _ in stage:
                x = nnx.relu(self.bns[layer](self.convs[layer](x))); layer += 1
        logits = self.head(x.max(axis=(1, 2))).astype(jnp.float32)
        return logits[0] if single else logits


VARIANTS = {
    "cpu": M.CPUNet,
    "s2d": lambda **kw: SpaceToDepthCNN(((2,), (4, 8), (16,)), **kw),
    "cpu5": lambda **kw: PoolCNN(((1,), (2,), (4, 8), (16,), (32,)), **kw),
}


def loss_by_images(records, bin_images=32_000):
    "Mean training loss per bin of `bin_images` images seen: [(bin start, loss), ...]."
    tr = [r for r in records if r["kind"] == "train"]
    out = []
    for lo in range(0, max(r["images_seen"] for r in tr) + 1, bin_images):
        xs = [r["loss"] for r in tr if lo <= r["images_seen"] < lo + bin_images]
        if xs: out.append((lo, round(float(np.mean(xs)), 5)))
    return out


def run(variant, minutes, jsonl, out_dir, fields=None):
    M.MODELS["cpu"] = VARIANTS[variant]
    cfg = recipe_config("cpu", **(fields or {}))
    res = train(cfg, out_dir, max_minutes=minutes, progress=False)
    ev = evaluate(res["model"], Dataset("sinenet", "test", 0, 60), 10_000)
    line = dict(variant=variant, fields=fields or {}, params=count_params(res["model"]), minutes=minutes, step=res["step"],
                schedule_steps=res.get("schedule_steps"), images=res["step"] * cfg.batch_size,
                images_per_s=res["images_per_s"], wall_seconds=res["wall_seconds"], stopped_early=res["stopped_early"],
                accuracy=ev["accuracy"], roc_auc=ev["roc_auc"], n=ev["n"], loss_by_images=loss_by_images(read_metrics(out_dir)),
                command=" ".join(sys.argv), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    print(json.dumps({k: v for k, v in line.items() if k != "loss_by_images"}), flush=True)
    with open(jsonl, "a") as f: f.write(json.dumps(line) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=sorted(VARIANTS))
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--fields", type=json.loads, default=None, help='TrainConfig fields over the recipe, as JSON, e.g. \'{"decay_share": 0.5}\'')
    ap.add_argument("--jsonl", type=Path, default=Path("cpu_wall.jsonl"))
    ap.add_argument("--run-dir", type=Path, default=None, help="training folder (default: runs/cpu_wall_VARIANT)")
    ap.add_argument("--report", default=None, help="comma-separated JSONL files to merge into --out")
    ap.add_argument("--out", default="cpu_wall.json")
    a = ap.parse_args()
    if a.report:
        runs = [json.loads(l) for f in a.report.split(",") for l in open(f) if l.strip()]
        write(a.out, dict(clock="wall seconds of `train(max_minutes=...)` on a quiet 2-core machine", runs=runs))
    elif a.variant:
        run(a.variant, a.minutes, a.jsonl, a.run_dir or Path("runs") / f"cpu_wall_{a.variant}", a.fields)
    else:
        ap.error("give --variant or --report")


if __name__ == "__main__":
    main()
