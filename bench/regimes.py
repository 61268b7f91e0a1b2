"""Pixel PGD and Gaussian noise on models of the three training regimes (clean, Gaussian noise, adversarial).

    python bench/regimes.py OUT.json NAME=RUN_DIR [NAME=RUN_DIR ...] [--n 1000] [--n-noise 10000]
                            [--eps 0.075,0.15,0.3,0.6,1.2] [--steps 10] [--step-ratio 2.5] [--sigmas 0.04,0.08,0.16]

Each RUN_DIR is a folder written by `squiggles train`. For each model: clean accuracy on the first --n-noise test
samples; accuracy with Gaussian pixel noise of each sigma of --sigmas added (unclipped, as in training) on the same
samples; accuracy under L2 pixel PGD (--steps steps of eps/--step-ratio, random start, images kept in [0, 1]) at each
budget of --eps on the first --n samples, with Gaussian noise of the same L2 norm beside it. Writes OUT.json with the
models' training configs and the provenance of the numbers.
"""
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
from common import provenance
from squiggles_nb.data import Dataset
from squiggles_nb.train import load_model, load_config, add_noise, evaluate
from squiggles_nb.attacks import attack_dataset, predict


def floats(s): return [float(v) for v in s.split(",")]


def noise_accuracy(model, ds, n, sigma, seed, chunk=1024):
    "Accuracy on samples 0..n-1 with N(0, sigma^2) pixel noise, image i's noise from fold_in(key(seed), i)."
    key, hits = jax.random.key(seed), []
    for s in range(0, n, chunk):
        b = ds.batch(s, min(chunk, n - s)); pos = jnp.arange(s, s + len(b["label"]), dtype=jnp.uint32)
        hits.append(np.asarray(predict(model, add_noise(b["image"], pos, sigma, "fixed", key)) == b["label"]))
    return float(np.concatenate(hits).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out"); ap.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    ap.add_argument("--n", type=int, default=1000); ap.add_argument("--n-noise", type=int, default=10_000)
    ap.add_argument("--eps", type=floats, default=[0.075, 0.15, 0.3, 0.6, 1.2])
    ap.add_argument("--steps", type=int, default=10); ap.add_argument("--step-ratio", type=float, default=2.5)
    ap.add_argument("--sigmas", type=floats, default=[0.04, 0.08, 0.16]); ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.runs)
    res = dict(provenance=provenance(), n=args.n, n_noise=args.n_noise, eps=args.eps, steps=args.steps,
               step_ratio=args.step_ratio, sigmas=args.sigmas, models={})
    for name, path in runs.items():
        t = time.time(); cfg, model = load_config(path), load_model(path)
        ds = Dataset(cfg.family, "test", cfg.data_seed, cfg.resolution)
        out = dict(run=str(path), config=cfg.to_dict(), clean_accuracy=evaluate(model, ds, args.n_noise)["accuracy"],
                   gaussian_noise_accuracy={f"{s:g}": noise_accuracy(model, ds, args.n_noise, s, args.seed) for s in args.sigmas})
        r, _ = attack_dataset(model, ds, args.n, args.eps, steps=args.steps, step_ratio=args.step_ratio, noise_seed=args.seed)
        y = r["label"][:, None]
        out.update(pgd_clean_accuracy=float((r["prediction"] == r["label"]).mean()),
                   pgd_accuracy={f"{e:g}": float(a) for e, a in zip(args.eps, (r["adv_prediction"] == y).mean(0))},
                   same_norm_noise_accuracy={f"{e:g}": float(a) for e, a in zip(args.eps, (r["noise_prediction"] == y).mean(0))},
                   seconds=round(time.time() - t, 1))
        res["models"][name] = out; print(name, json.dumps(out["pgd_accuracy"]), json.dumps(out["gaussian_noise_accuracy"]), flush=True)
        tmp = Path(args.out).with_suffix(".tmp"); tmp.write_text(json.dumps(res, indent=1) + "\n"); os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
