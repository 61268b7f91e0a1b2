"""Attack a model saved by train.save_weights (a weights folder) on the test split, phase by phase within a deadline.

    python bench/attack_weights.py WEIGHTS_DIR OUT.json [--n 8192] [--chunk 2048] [--deadline 120]

Phases, in this order, each written to OUT.json (atomically) as it ends: clean accuracy; pixel L2 PGD (100 steps of
eps/25, images kept in [0, 1]) at eps 0.15 and 0.3 with Gaussian noise of the same L2 norm, unclipped and clipped to
[0, 1]; latent L2 PGD at eps 0.075 with the true label recomputed after the attack (Fig. 9 of the Squiggles paper).
A phase that would start after the deadline (seconds since the start) is skipped and listed as such.
"""
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp

T0 = time.time()
sys.path.insert(0, str(Path(__file__).parent))
from common import provenance
from squiggles_nb.data import Dataset
from squiggles_nb.train import load_weights
from squiggles_nb.model import as_function
from squiggles_nb.attacks import pgd_l2, predict, gaussian_noise_attack, latent_attack, l2_norm


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights"); ap.add_argument("out")
    ap.add_argument("--n", type=int, default=8192); ap.add_argument("--n-latent", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=2048); ap.add_argument("--deadline", type=float, default=120)
    args = ap.parse_args()
    if args.n % args.chunk or args.n_latent % min(args.chunk, args.n_latent):
        sys.exit("--n and --n-latent must be multiples of --chunk")
    model = load_weights(args.weights)
    manifest = json.loads((Path(args.weights) / "manifest.json").read_text())
    cfg = manifest["config"]
    fn = as_function(model)
    ds = Dataset(cfg["family"], "test", cfg["data_seed"], cfg["resolution"])
    res = dict(provenance=provenance(), weights=dict(folder=str(args.weights), parts=manifest["parts"]), config=cfg,
               n=args.n, steps=100, step_ratio=25, phases={}, skipped=[])

    def save():
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1) + "\n"); os.replace(tmp, args.out)

    def phase(name, f):
        if time.time() - T0 > args.deadline:
            res["skipped"].append(name); save(); print(f"{name}: skipped (deadline)", flush=True); return
        t = time.time(); out = f(); out["seconds"] = round(time.time() - t, 2)
        res["phases"][name] = out; save(); print(f"{name}: {out}", flush=True)

    chunks = [(s, args.chunk) for s in range(0, args.n, args.chunk)]

    def clean():
        c = []
        for s, m in chunks:
            b = ds.batch(s, m); c.append(np.asarray(predict(fn, b["image"]) == b["label"]))
        return dict(accuracy=float(np.concatenate(c).mean()))
    phase("clean", clean)

    for eps in (0.15, 0.3):
        def pixel(eps=eps):
            adv, noise, noise_clip, norms, noise_clip_norm = [], [], [], [], []
            for s, m in chunks:
                b = ds.batch(s, m); x, y = b["image"], b["label"]
                xa = pgd_l2(fn, x, y, eps, steps=100, step_size=eps / 25, clip=(0.0, 1.0))
                adv.append(np.asarray(predict(fn, xa) == y)); norms.append(np.asarray(l2_norm(xa - x)))
                key = jax.random.fold_in(jax.random.key(0), s)
                xn = gaussian_noise_attack(key, x, eps); noise.append(np.asarray(predict(fn, xn) == y))
                xc = gaussian_noise_attack(key, x, eps, clip=(0.0, 1.0)); noise_clip.append(np.asarray(predict(fn, xc) == y))
                noise_clip_norm.append(np.asarray(l2_norm(xc - x)))
            c = lambda v: float(np.concatenate(v).mean())
            return dict(eps=eps, pgd_accuracy=c(adv), noise_accuracy=c(noise), noise_clipped_accuracy=c(noise_clip),
                        pgd_delta_norm_mean=c(norms), noise_clipped_norm_mean=c(noise_clip_norm))
        phase(f"pixel@{eps:g}", pixel)

    def latent(eps=0.075):
        n = args.n_latent; m = min(args.chunk, n)
        fam = ds.family
        correct, flipped, clean_ok = [], [], []
        for s in range(0, n, m):
            b = ds.batch(s, m)
            r = latent_attack(model, fam, b["z"], b["label"], eps, resolution=cfg["resolution"], steps=100, step_size=eps / 25)
            correct.append(np.asarray(r["correct"])); flipped.append(np.asarray(r["flipped"]))
            clean_ok.append(np.asarray(predict(fn, b["image"]) == b["label"]))
        c = lambda v: float(np.concatenate(v).mean())
        return dict(eps=eps, n=n, accuracy_recomputed_labels=c(correct), label_flipped=c(flipped), clean_accuracy=c(clean_ok))
    phase("latent@0.075", latent)
    print(f"done in {time.time() - T0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
