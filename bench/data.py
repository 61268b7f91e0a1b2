"""Data-layer benchmarks (issue: the Squiggles data layer, section 7).

1. Export of N samples (z, points, label), the original way -- one jitted z -> points call and one Shapely call per
   sample in a Python loop, with the formulas of appendix A.1 evaluated literally (30,000 sines per SineNet curve) --
   against ours (`squiggles_nb.data.export`), in one process; the ratio per family. Also reported: the same loop with
   our cheaper SineNet formula, which separates the gain of batching from the gain of the formula.
2. Rasterizer: images/s at 60x60 (and 120x120), batch 1024, forward, and forward+gradient with our VJP and with JAX's
   autodiff of the naive max of exponentials.
3. With --profile: where the export's time goes, per family, in ms per 16,384 samples, each step timed alone (best of 3):
   keys and z; the generator, and the same recompiled without the optimization barrier on z; Dataset.batch with its in-graph Shapely labels (the old export path); Shapely's
   labels and our host labels (monotone curves skip Shapely) on one thread; np.savez, sha256 and fsync of the shard; then the export
   of the same samples as one shard. The generator and the export also report their CPU time over all threads: CPU / wall is the
   number of cores they kept busy (at most 2 here).

    python bench/data.py                       # defaults: N_ours=200000, N_orig=5000, 3 alternating repeats
    python bench/data.py --n-ours 100000 --n-orig 3000 --skip-render --profile
Writes bench/results/data.json.
"""
import argparse, hashlib, io, os, shutil, tempfile, time
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp
from jax import lax
import shapely
from common import write, best_rate
from squiggles_nb.generators import get_family, normalize
from squiggles_nb.rasterizer import render, pixel_grid
from squiggles_nb.labeler import self_intersects_shapely
from squiggles_nb.data import (Dataset, export, split_key, sample_keys, index_halves, generate_blocks, host_labels, sha256_file, fsync_file,
                               CHUNK, EXPORT_BLOCK)


def naive_curve(fam, z):
    "Appendix A.1 transcribed literally, as the original generator computed it: every sine (SineNet) or power (Taylor) evaluated."
    t = jnp.asarray(fam.t)
    if fam.name == "sinenet":
        a, b, w, phi = jnp.split(z, 4, axis=-1)
        s = jnp.sin(w[:, None] * t + phi[:, None])                 # (hidden, num_points): 30,000 sines
        pts = jnp.stack([a @ s, b @ s], -1)
    else:
        i = jnp.arange(1, fam.order + 1)
        basis = t[None, :] ** i[:, None] / jnp.exp(jax.scipy.special.gammaln(i + 1.))[:, None]
        pts = jnp.stack([z[:fam.order] @ basis, z[fam.order:] @ basis], -1)
    return normalize(pts)


def original_export(family, n, out, formula="naive"):
    "The original generator's way: per sample, one jitted call z -> points and one Shapely call, in a Python loop."
    fam = get_family(family)
    skey = split_key(fam, "train", 0)
    curve = (lambda z: naive_curve(fam, z)) if formula == "naive" else fam.curve

    @jax.jit
    def one(i):
        k = jax.random.fold_in(jax.random.fold_in(skey, 0), i)
        z = fam._sample(k, ())
        return z, curve(z)

    zs, ps, ls = [], [], []
    for i in range(n):
        z, p = one(i)
        p = np.asarray(p)
        zs.append(np.asarray(z)); ps.append(p); ls.append(not shapely.LineString(p).is_simple)
    np.savez(out / "orig.npz", z=np.stack(zs), points=np.stack(ps), label=np.array(ls, np.int32))


def bench_export(args):
    "Original loop, the loop with our formula, and ours, timed in turn `args.repeats` times; rates and ratio are medians (a noisy machine moves single runs by 30%)."
    res = {}
    for family in ("sinenet", "taylor"):
        tmp = Path(tempfile.mkdtemp())
        load0 = os.getloadavg()
        runs = dict(original=[], loop_ours=[], ours=[])
        try:
            original_export(family, 50, tmp); original_export(family, 50, tmp, formula="ours")        # compile
            ds = Dataset(family, "train", seed=0)
            export(ds, 2 * 16384, tmp / "warm", shard_size=16384, progress=False)
            for _ in range(args.repeats):
                t = time.perf_counter(); original_export(family, args.n_orig, tmp); runs["original"].append(args.n_orig / (time.perf_counter() - t))
                t = time.perf_counter(); original_export(family, args.n_orig, tmp, formula="ours"); runs["loop_ours"].append(args.n_orig / (time.perf_counter() - t))
                shutil.rmtree(tmp / "ours", ignore_errors=True)
                t = time.perf_counter(); m = export(ds, args.n_ours, tmp / "ours", shard_size=100_000, progress=False); runs["ours"].append(args.n_ours / (time.perf_counter() - t))
        finally:
            shutil.rmtree(tmp)
        r_orig, r_loop, r_ours = (float(np.median(runs[k])) for k in ("original", "loop_ours", "ours"))
        ratios = [o / g for o, g in zip(runs["ours"], runs["original"])]
        res[family] = dict(original_samples_per_s=round(r_orig, 1), ours_samples_per_s=round(r_ours, 1), ratio=round(r_ours / r_orig, 2),
                           ratio_per_repeat=[round(r, 2) for r in ratios],
                           loop_with_our_formula_samples_per_s=round(r_loop, 1), ratio_vs_loop_with_our_formula=round(r_ours / r_loop, 2),
                           runs_samples_per_s={k: [round(v, 1) for v in vs] for k, vs in runs.items()},
                           n_original=args.n_orig, n_ours=args.n_ours, repeats=args.repeats,
                           self_intersecting_rate=m["label_counts"]["1"] / args.n_ours,
                           load_average_before_after=[round(load0[0], 2), round(os.getloadavg()[0], 2)])
        print(f"export {family:8s}: original {r_orig:9.0f} samples/s   ours {r_ours:9.0f} samples/s   ratio {r_ours / r_orig:6.1f}x"
              f" (medians of {args.repeats}; per repeat {', '.join(f'{r:.1f}' for r in ratios)})"
              f"   (a per-sample loop with our formula: {r_loop:7.0f} samples/s, ratio {r_ours / r_loop:5.1f}x)")
    return res


def _best_ms(fn, repeats=3):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return round(best * 1e3, 1)


def _cpu_ms(fn, repeats=3):
    "CPU time of the process (all threads) in the fastest of `repeats` runs of fn(), after one warm-up: with the wall time, how many cores it kept busy."
    fn()
    best = (float("inf"), 0.)
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time(); fn()
        best = min(best, (time.perf_counter() - t, time.process_time() - c))
    return round(best[1] * 1e3, 1)


def _chunk_without_barrier(self, hi, lo, images=True, labeler="auto"):
    "Dataset._chunk as it was before the optimization barrier on z (same bits; XLA recomputes z inside each fused consumer)."
    from squiggles_nb.labeler import label
    fam = self.family
    z = jax.vmap(lambda k: fam._sample(k, ()))(sample_keys(self.key, hi, lo))
    points = fam.curve(z)
    out = dict(z=z, points=points)
    if labeler is not None: out["label"] = label(points, backend=labeler).astype(jnp.int32)
    return out


def bench_profile(args, n=16384):
    "Where export time goes: each step alone, ms per `n` samples (best of 3), training split, seed 0."
    import squiggles_nb.data as D
    res = {}
    for family in ("sinenet", "taylor"):
        ds = Dataset(family, "train", seed=0); fam = ds.family; nc = n // CHUNK
        hi, lo = index_halves(jnp.uint32(0), n)
        keys_z = jax.jit(lambda hi, lo: lax.map(lambda hl: jax.vmap(lambda k: fam._sample(k, ()))(sample_keys(ds.key, *hl)),
                                                 (hi.reshape(nc, CHUNK), lo.reshape(nc, CHUNK))))
        gen = lambda: [None for _ in generate_blocks(ds, 0, n)]
        r = {"keys and z": _best_ms(lambda: keys_z(hi, lo).block_until_ready()),
             f"generator: keys, z, points (blocks of {EXPORT_BLOCK}, no labels)": _best_ms(gen)}
        r["  the generator's CPU time, all threads (its best run)"] = _cpu_ms(gen)
        def variant(name, patch, undo):                 # the generator as it was, recompiled with one change undone
            D._batch_fn.cache_clear(); jax.clear_caches(); patch()
            try: r[name] = _best_ms(gen)
            finally: undo(); D._batch_fn.cache_clear(); jax.clear_caches()
        chunk = D.Dataset._chunk
        variant("  the same without the barrier on z (z recomputed in fused consumers)",
                lambda: setattr(D.Dataset, "_chunk", _chunk_without_barrier), lambda: setattr(D.Dataset, "_chunk", chunk))
        r["Dataset.batch(images=False) in blocks of 16384: labels by a Shapely callback per chunk"] = _best_ms(
            lambda: jax.block_until_ready(ds.batch(0, n, images=False)))
        z = np.concatenate([z for z, _ in generate_blocks(ds, 0, n)]); pts = np.concatenate([p for _, p in generate_blocks(ds, 0, n)])
        r["labels, Shapely (1 thread)"] = _best_ms(lambda: self_intersects_shapely(pts))
        r["labels, host: monotone curves skip Shapely (1 thread)"] = _best_ms(lambda: host_labels(pts))
        lab = host_labels(pts)
        f = Path(tempfile.mkdtemp()) / "x.npz"
        r["np.savez (uncompressed)"] = _best_ms(lambda: np.savez(f, z=z, points=pts, label=lab))
        r["sha256 of the file"] = _best_ms(lambda: sha256_file(f))
        def rewrite_fsync():
            np.savez(f, z=z, points=pts, label=lab); t = time.perf_counter(); fsync_file(f); return time.perf_counter() - t
        rewrite_fsync(); r["fsync of the file"] = round(min(rewrite_fsync() for _ in range(3)) * 1e3, 1)
        d = f.parent / "export"
        def exp(): shutil.rmtree(d, ignore_errors=True); export(ds, n, d, shard_size=n, progress=False)
        r["export (the sum of all the above, overlapped)"] = _best_ms(exp)
        r["  the export's CPU time, all threads (its best run)"] = _cpu_ms(exp)
        shutil.rmtree(f.parent)
        res[family] = dict(samples=n, ms=r, load_average=round(os.getloadavg()[0], 2))
        print(f"profile {family} (ms per {n} samples, each step alone, best of 3):")
        for k, v in r.items(): print(f"   {v:8.1f}  {k}")
    return res


def bench_render(args):
    res = {}
    fam = get_family("sinenet")
    pts = fam.curve(fam.sample(jax.random.key(0), 1024))
    for size in (60, 120):
        g = pixel_grid(size)
        def naive(p):
            Xijk = jnp.exp(-size ** 2 * ((g[:, None, None] - p[..., None, None, :, 0]) ** 2 + (g[None, :, None] - p[..., None, None, :, 1]) ** 2))
            return Xijk.max(-1)
        w = jax.random.normal(jax.random.key(1), (size, size))
        fwd_ours = jax.jit(lambda p: render(p, size))
        fwd_naive = jax.jit(naive)
        grad_ours = jax.jit(jax.grad(lambda p: jnp.sum(w * render(p, size))))
        grad_naive = jax.jit(jax.grad(lambda p: jnp.sum(w * naive(p))))
        r = {name: best_rate(lambda f=f: f(pts).block_until_ready(), len(pts))
             for name, f in [("forward_ours", fwd_ours), ("forward_naive", fwd_naive), ("grad_ours", grad_ours), ("grad_autodiff_naive", grad_naive)]}
        res[f"{size}x{size}"] = {k: round(v, 1) for k, v in r.items()}
        print(f"render {size}x{size} batch 1024: " + ", ".join(f"{k} {v:,.0f} img/s" for k, v in r.items()))
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-ours", type=int, default=200_000)
    ap.add_argument("--n-orig", type=int, default=5_000)
    ap.add_argument("--repeats", type=int, default=3, help="export timings alternate original / ours this many times (medians reported)")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--skip-render", action="store_true")
    ap.add_argument("--profile", action="store_true", help="also time each step of the export alone (writes 'profile')")
    args = ap.parse_args()
    payload = dict(targets=dict(export_ratio=dict(sinenet=10, taylor=50), render_60_img_per_s=25_000))
    if not args.skip_render: payload["render"] = bench_render(args)
    if not args.skip_export: payload["export"] = bench_export(args)
    if args.profile: payload["profile"] = bench_profile(args)
    write("data.json", payload)
