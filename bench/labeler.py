"""Labeler benchmark: agreement of the JAX labeler with Shapely at scale, and labeler throughput.

1. Throughput, all in this process on the same curves (SineNet and Taylor, normalised, float32):
   Shapely loop (one LineString per curve, as the original code), Shapely vectorised (`self_intersects_shapely`),
   ours (`self_intersects`, jitted, for a few chunk sizes), `label` (backend auto, eager and inside jit),
   and ours on near-degenerate curves (which always take the full pair logic). Ratios to Shapely vectorised.
2. Agreement: `self_intersects` vs `self_intersects_shapely` on `--n` random curves per family, plus the six
   near-degenerate variants (`near_degenerate`: a vertex moved onto another segment, +-1 ulp in x and y, onto a vertex)
   of the first `--n-degenerate` curves per family. Every disagreement is recorded with its exact input.

    python bench/labeler.py                                   # defaults: --n 1000000 --n-degenerate 100000
    python bench/labeler.py --n 20000 --n-degenerate 2000 --throughput-n 4000     # quick
    python bench/labeler.py --resume                          # continue an interrupted agreement run
    python bench/labeler.py --throughput-only                 # re-measure throughput, keep the agreement result

Progress is saved after every batch to bench/results/labeler.partial.json; the result is bench/results/labeler.json.
"""
import argparse, json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
import jax, jax.numpy as jnp
import shapely
from tqdm import tqdm
from concurrent.futures import ThreadPoolExecutor
from common import write, RESULTS
from squiggles_nb.generators import get_family
from squiggles_nb.labeler import self_intersects, self_intersects_shapely, label, near_degenerate

FAMILIES = ("sinenet", "taylor")


def curves(family, start_batch, batch, seed):
    "Batch number `start_batch` of `batch` normalised curves of `family` (float32 numpy), deterministic in (seed, batch number)."
    fam = get_family(family)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), FAMILIES.index(family)), start_batch)
    return np.asarray(fam.curve(fam.sample(key, batch)))


def rates(fns, n_items, repeats):
    """Curves/s of each fn (which must block until done): one warm-up, then `repeats` rounds that run every fn once, interleaved,
    so that load from other jobs on the shared CPU hits all of them alike. Returns {name: (best, median)}."""
    for f in fns.values(): f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t)
    return {k: (n_items[k] / min(v), n_items[k] / float(np.median(v))) for k, v in times.items()}


def throughput(args):
    res = {}
    si = jax.jit(self_intersects, static_argnames="chunk_size")
    lab_jit = jax.jit(label)
    pool = ThreadPoolExecutor(2)
    for family in FAMILIES:
        pts = curves(family, 10**6, args.throughput_n, args.seed + 1)
        jpts = jnp.asarray(pts)
        ref = self_intersects_shapely(pts)
        nd = near_degenerate(pts, seed=args.seed)["on_vertex"]      # never generic: always the full pair logic
        jnd = jnp.asarray(nd)
        n_loop = min(len(pts), args.loop_n)
        halves = np.array_split(pts, 2)
        fns = {
            "shapely_loop": lambda: [not shapely.LineString(p).is_simple for p in pts[:n_loop]],
            "shapely_vectorised": lambda: self_intersects_shapely(pts),
            "shapely_vectorised_2threads": lambda: list(pool.map(self_intersects_shapely, halves)),
            **{f"jax_chunk{c}": (lambda c=c: si(jpts, chunk_size=c).block_until_ready()) for c in (64, 256, 1024)},
            "label_auto_numpy": lambda: label(pts),
            "label_auto_in_jit": lambda: lab_jit(jpts).block_until_ready(),
            "jax_near_degenerate_full_path": lambda: si(jnd).block_until_ready(),
            "shapely_vectorised_near_degenerate": lambda: self_intersects_shapely(nd),
        }
        n_items = {k: (n_loop if k == "shapely_loop" else len(pts)) for k in fns}
        assert (np.asarray(si(jpts)) == ref).all() and (np.asarray(label(pts)) == ref).all()
        assert (np.asarray(si(jnd)) == self_intersects_shapely(nd)).all()
        rr = rates(fns, n_items, args.repeats)
        r = {"n_curves": len(pts), "self_intersecting": float(ref.mean()), "curves_per_s_best": {k: v[0] for k, v in rr.items()},
             "curves_per_s_median": {k: v[1] for k, v in rr.items()}}
        med = r["curves_per_s_median"]
        best_jax = max(v for k, v in med.items() if k.startswith("jax_chunk"))
        r["ratio_median_jax_best_chunk_over_shapely_vectorised"] = best_jax / med["shapely_vectorised"]
        r["ratio_median_shapely_vectorised_over_loop"] = med["shapely_vectorised"] / med["shapely_loop"]
        res[family] = r
        print(f"{family} (median curves/s): " + ", ".join(f"{k}={v:,.0f}" for k, v in med.items()))
        print(f"  ours / shapely vectorised = {r['ratio_median_jax_best_chunk_over_shapely_vectorised']:.3f}, "
              f"shapely vectorised / loop = {r['ratio_median_shapely_vectorised_over_loop']:.2f}")
    return res


def new_state(args):
    return {"config": {"n": args.n, "n_degenerate": args.n_degenerate, "batch": args.batch, "seed": args.seed},
            "families": {f: {"next_batch": 0, "checked": 0, "disagreements": 0, "self_intersecting": 0,
                             "degenerate": {}, "examples": [], "wall_s": 0.0} for f in FAMILIES}}


def agreement(args, partial_path):
    state = new_state(args)
    if args.resume and partial_path.exists():
        old = json.loads(partial_path.read_text())
        if old["config"] == state["config"]:
            state = old
            print("resuming from", partial_path)
        else:
            print("partial result has a different config; starting over")
    si = jax.jit(self_intersects)
    nb = -(-args.n // args.batch)
    for family in FAMILIES:
        s = state["families"][family]
        bar = tqdm(range(s["next_batch"], nb), desc=f"agreement {family}", unit="batch")
        for b in bar:
            t0 = time.perf_counter()
            size = min(args.batch, args.n - b * args.batch)
            pts = curves(family, b, args.batch, args.seed)[:size]
            sets = [("random", pts)]
            lo = b * args.batch
            if lo < args.n_degenerate:
                base = pts[: args.n_degenerate - lo]
                sets += list(near_degenerate(base, seed=args.seed * 1000 + b).items())
            refs = {}
            for name, p in sets:
                ours = np.asarray(si(jnp.asarray(p)))
                ref = refs[name] = self_intersects_shapely(p)
                bad = np.nonzero(ours != ref)[0]
                if name == "random":
                    s["checked"] += len(p); s["disagreements"] += len(bad); s["self_intersecting"] += int(ref.sum())
                else:
                    d = s["degenerate"].setdefault(name, {"checked": 0, "disagreements": 0, "self_intersecting": 0})
                    d["checked"] += len(p); d["disagreements"] += len(bad); d["self_intersecting"] += int(ref.sum())
                for i in bad[: max(0, 20 - len(s["examples"]))]:
                    s["examples"].append({"set": name, "batch": b, "index": int(i), "ours": bool(ours[i]), "shapely": bool(ref[i]),
                                          "points_float32_hex": [[float(x).hex() for x in xy] for xy in p[i]]})
            if len(sets) > 1:      # curves whose label flips between the two 1-ulp moves: the test sits on the decision boundary
                for ax in "xy":
                    key = f"label_differs_{ax}+1ulp_vs_{ax}-1ulp"
                    s["degenerate"][key] = s["degenerate"].get(key, 0) + int((refs[f"{ax}+1ulp"] != refs[f"{ax}-1ulp"]).sum())
                key = "label_differs_on_segment_vs_any_1ulp_move"
                moved = np.stack([refs[k] for k in ("x+1ulp", "x-1ulp", "y+1ulp", "y-1ulp")])
                s["degenerate"][key] = s["degenerate"].get(key, 0) + int((moved != refs["on_segment"]).any(0).sum())
            s["next_batch"] = b + 1
            s["wall_s"] += time.perf_counter() - t0
            bar.set_postfix(checked=s["checked"], disagreements=s["disagreements"])
            partial_path.write_text(json.dumps(state, indent=1))
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="random curves per family for the agreement run")
    ap.add_argument("--n-degenerate", type=int, default=100_000, help="curves per family whose 6 near-degenerate variants are checked")
    ap.add_argument("--batch", type=int, default=16384)
    ap.add_argument("--throughput-n", type=int, default=16384, help="curves per family for the throughput measurements")
    ap.add_argument("--loop-n", type=int, default=16384, help="curves for the (slow) Shapely loop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds (median and best are reported)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--throughput-only", action="store_true", help="measure throughput and merge it into an existing labeler.json")
    ap.add_argument("--resume", action="store_true", help="continue the agreement run saved in labeler.partial.json")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial_path = RESULTS / "labeler.partial.json"
    t0 = time.perf_counter()
    tp = None if args.skip_throughput else throughput(args)
    if args.throughput_only:
        out = RESULTS / "labeler.json"
        old = json.loads(out.read_text()) if out.exists() else {}
        if "provenance" in old:
            old["agreement_provenance"] = old.pop("provenance")     # the provenance written below is the throughput run's
        old["throughput"] = tp
        write("labeler.json", old)
        return
    state = agreement(args, partial_path)
    total = {f: {"random_checked": s["checked"], "random_disagreements": s["disagreements"],
                 "near_degenerate_checked": sum(d["checked"] for d in s["degenerate"].values() if isinstance(d, dict)),
                 "near_degenerate_disagreements": sum(d["disagreements"] for d in s["degenerate"].values() if isinstance(d, dict))}
             for f, s in state["families"].items()}
    print(json.dumps(total, indent=1))
    write("labeler.json", dict(
        note="CPU only: no GPU/accelerator was available in this session, so there is no GPU throughput. Rates are curves/s "
             "(best of 3 after a warm-up) on a CPU shared with other jobs. 'auto' picks Shapely on CPU.",
        wall_s=time.perf_counter() - t0, throughput=tp, agreement=state, summary=total))


if __name__ == "__main__":
    main()
