"""The geometric navigator and the certified lower bound (notebook 07, `geometric_boundary`, `certified_lower`).

1. sweep: `geometric_boundary` on N SineNet test samples with the paper's protocol (9 budgets, 100 steps of eps/25):
   wall time of the sweep and of the lower bound, shares within each budget by both bounds, and the checks that every
   finite upper bound is witnessed (the returned latent is that close and its exact label differs) and lower <= upper.
2. soundness: on N test samples of each family, every flip any method finds must be at least the certified lower bound
   away: the geometric navigator, random directions with bisection (`random_boundary`, K directions per sample) and a
   model navigator (a SmallCNN trained on Taylor curves for a few minutes, as the paper navigates with a Taylor model)
   on the first M samples; the geometric and the model navigator run the same shortened protocol (--steps steps of
   eps/(--steps/4)). Every witness is labelled again with Shapely. Also reports the share of samples where the
   geometric upper bound is at most the model navigator's, their median ratio, and the same against the best of the
   random directions.

    python bench/geometry.py                      # both parts, the defaults below; writes bench/results/geometry.json
    python bench/geometry.py --part sweep --n 1024
    python bench/geometry.py --part soundness --n 2048 --n-model 512 --directions 8
"""
import argparse, json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
import jax, jax.numpy as jnp
from common import write, provenance, RESULTS
from squiggles_nb.data import Dataset
from squiggles_nb.labeler import self_intersects_shapely
from squiggles_nb.boundary import PAPER_EPS, geometric_boundary, certified_lower, boundary_distance, random_boundary, difficulty_shares


def labels(family, z, batch=4096):
    "Shapely's labels of the curves of latents z (n, d), int."
    return np.concatenate([self_intersects_shapely(np.asarray(family.curve(jnp.asarray(z[i:i + batch])))).astype(int)
                           for i in range(0, len(z), batch)]) if len(z) else np.zeros(0, int)


def witnessed(family, z, out):
    "Count of finite upper bounds whose z_boundary is within distance of z and has the other label by Shapely."
    fin = np.isfinite(out["distance"])
    zb = out["z_boundary"][fin]
    close = np.linalg.norm(zb.astype(np.float64) - z[fin], axis=1) <= out["distance"][fin]     # the float32 points, exactly
    other = labels(family, zb) != out["label"][fin]
    return dict(finite=int(fin.sum()), witnessed=int((close & other).sum()))


def sweep(args):
    ds = Dataset("sinenet", "test", 0, 60)
    z = np.asarray(ds.batch(0, args.n, images=False)["z"])
    t = time.perf_counter()
    out = geometric_boundary(ds.family, z, PAPER_EPS, 100, batch_size=args.batch, progress=True)
    wall = time.perf_counter() - t
    t = time.perf_counter(); lower = certified_lower(ds.family, z); t_lower = time.perf_counter() - t
    assert np.array_equal(lower, out["lower"])
    w = witnessed(ds.family, z, out)
    sh = difficulty_shares(dict(lower=out["lower"], upper=out["distance"]))
    res = dict(n=args.n, family="sinenet", protocol="9 budgets 0.01875..4.8, 100 steps of eps/25, best iterate",
               wall_s=wall, lower_bound_wall_s=t_lower, passes=out["passes"], full_sweep_passes=out["full_sweep_passes"],
               self_intersecting=float(out["label"].mean()), found=float(out["found"].mean()), **w,
               lower_le_upper=bool(np.all(out["lower"] <= out["distance"])),
               eps=sh["eps"].tolist(), within_by_upper=sh["certainly"].tolist(), within_by_lower=sh["possibly"].tolist(),
               median_lower=float(np.median(out["lower"])), median_upper_found=float(np.median(out["distance"][out["found"]])))
    print(json.dumps(res, indent=1))
    return res


def navigator_model(path, minutes):
    "A SmallCNN trained on Taylor curves for `minutes` (reloaded from `path` if trained before) and its training summary."
    from squiggles_nb.train import TrainConfig, train, load_model
    path = Path(path)
    if (path / "result.json").exists():
        info = json.loads((path / "result.json").read_text())
        return load_model(path), dict(steps=info["step"], eval_accuracy=info["eval_accuracy"], path=str(path))
    cfg = TrainConfig(family="taylor", model="smallcnn", width=8, batch_size=64, steps=3000, learning_rate=2e-3,
                      eval_size=512, eval_every=10_000, checkpoint_every=10_000)
    r = train(cfg, str(path), max_minutes=minutes, progress=False)
    print("navigator:", r["step"], "steps, accuracy", r["eval_accuracy"])
    return r["model"], dict(steps=r["step"], eval_accuracy=r["eval_accuracy"], path=str(path), train_minutes=minutes)


def soundness(args):
    key = jax.random.key(0)
    nav, nav_info = navigator_model(args.navigator, args.nav_minutes) if args.n_model else (None, None)
    out = dict(navigator=nav_info)
    ratio = max(1, args.steps // 4)
    for name in ("taylor", "sinenet"):
        ds = Dataset(name, "test", 0, 60)
        z = np.asarray(ds.batch(0, args.n, images=False)["z"])
        t = time.perf_counter()
        g = geometric_boundary(ds.family, z, PAPER_EPS, args.steps, step_ratio=ratio, batch_size=args.batch)
        t_geo = time.perf_counter() - t
        lower, y = g["lower"], g["label"]
        t = time.perf_counter(); rb = random_boundary(ds.family, z, key, args.directions); t_rd = time.perf_counter() - t
        rd = rb["distance"]
        r = dict(n=args.n, geometric_wall_s=t_geo, random_wall_s=t_rd, directions=args.directions,
                 protocol=f"9 budgets, {args.steps} steps of eps/{ratio}", **witnessed(ds.family, z, g), random_witnessed=witnessed(ds.family, z, dict(rb, distance=rd))["witnessed"],
                 lower_le_geometric=int(np.sum(lower <= g["norm"])), lower_le_random=int(np.sum(lower <= rd)),
                 geometric_found=int(np.isfinite(g["distance"]).sum()), random_found=int(np.isfinite(rd).sum()),
                 median_lower=float(np.median(lower)), median_geometric=float(np.median(g["distance"])),
                 median_random=float(np.median(rd)))
        both = np.isfinite(g["distance"]) & np.isfinite(rd)
        r["geometric_le_random"] = float(np.mean(g["distance"] <= rd))
        r["median_ratio_geometric_to_random"] = float(np.median(g["distance"][both] / rd[both]))
        if nav is not None:
            m = args.n_model
            t = time.perf_counter()
            mod = boundary_distance(ds.family, z[:m], nav, PAPER_EPS, args.steps, step_ratio=ratio, batch_size=args.batch)
            r["model_wall_s"] = time.perf_counter() - t
            fm, fg = mod["distance"], g["distance"][:m]
            r.update(n_model=m, model_found=int(np.isfinite(fm).sum()), model_witnessed=witnessed(ds.family, z[:m], dict(mod, z_boundary=mod["z_adv"], distance=np.maximum(mod["distance"], mod["norm"])))["witnessed"], lower_le_model=int(np.sum(lower[:m] <= mod["norm"])),
                     geometric_le_model=float(np.mean(fg <= fm)), geometric_lt_model=float(np.mean(fg < fm)),
                     median_model=float(np.median(fm)))
            bb = np.isfinite(fm) & np.isfinite(fg)
            r["median_ratio_geometric_to_model"] = float(np.median(fg[bb] / fm[bb])) if bb.any() else None
            r["within_0.01875"] = dict(model=float(np.mean(fm <= PAPER_EPS[0])), geometric=float(np.mean(fg <= PAPER_EPS[0])),
                                       lower=float(np.mean(lower[:m] <= PAPER_EPS[0])))
        sound = r["lower_le_geometric"] == args.n and r["lower_le_random"] == args.n
        if nav is not None: sound = sound and r["lower_le_model"] == r["n_model"]
        r["sound"] = bool(sound and r["witnessed"] == r["finite"] and r["random_witnessed"] == r["random_found"]
                          and (nav is None or r["model_witnessed"] == r["model_found"]))
        print(name, json.dumps(r, indent=1), flush=True)
        out[name] = r
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=("sweep", "soundness", "both"), default="both")
    ap.add_argument("--n", type=int, default=None, help="samples (default: 1024 for the sweep, 2048 per family for soundness)")
    ap.add_argument("--n-model", type=int, default=512, help="soundness: samples also navigated by the model (0: none)")
    ap.add_argument("--directions", type=int, default=8, help="soundness: random directions per sample")
    ap.add_argument("--steps", type=int, default=20, help="soundness: PGD steps per budget (step eps/(steps/4))")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--navigator", default="/tmp/squiggles_bench_nav_taylor", help="run directory of the Taylor navigator (trained if missing)")
    ap.add_argument("--nav-minutes", type=float, default=4.0)
    ap.add_argument("--out", default="geometry.json")
    args = ap.parse_args()
    res = {}
    if args.part in ("sweep", "both"):
        a = argparse.Namespace(**vars(args)); a.n = args.n or 1024
        res["sweep"] = dict(sweep(a), provenance=provenance())
    if args.part in ("soundness", "both"):
        a = argparse.Namespace(**vars(args)); a.n = args.n or 2048
        res["soundness"] = dict(args=dict(n=a.n, n_model=a.n_model, directions=a.directions, steps=a.steps), **soundness(a),
                                provenance=provenance())
    path = RESULTS / args.out                                          # keep the other part's result (read now: parts may run at once)
    old = {k: v for k, v in json.loads(path.read_text()).items() if k != "provenance"} if path.exists() else {}
    write(args.out, dict(old, **res))
