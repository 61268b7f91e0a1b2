"""Attack and boundary-sweep benchmarks (issue 4, section 4).

1. PGD throughput in example-iterations per second (one iteration = one forward and one backward pass per example),
   in pixel space (images -> model) and in latent space (z -> curve -> image -> model), for our `attacks.pgd_l2`
   (the whole attack in one jitted `fori_loop`) against the reference way (one jitted PGD step per call in a Python
   loop, as a direct port of CleverHans' loop), on the same inputs; the two must give the same result.
2. The boundary sweep of section 3 on N SineNet test samples with a navigator: the paper's full sweep
   (N x 9 eps x steps passes) against ours with early stopping (`boundary.boundary_distance`), same process;
   both must give identical distances. Reports passes done, passes saved, wall times and the ratio.

    python bench/attacks.py                                  # CPU: SmallCNN; random navigator unless --navigator
    python bench/attacks.py --navigator RUN_DIR --n 32 --steps 100
    python bench/attacks.py --gpu --navigator RUN_DIR        # GPU: ResNet-34 at batch 512, plus a time-boxed sweep
    python bench/attacks.py --gpu --budget-s 300 --records bench/results/boundary_gpu.jsonl

3. In --gpu mode (or with --timeboxed), section 3 runs the early-stopping sweep chunk by chunk on as many samples as fit in --budget-s and
projects the time of the paper's 98,304-sample sweep. Writes bench/results/attacks.json (or --out).
"""
import argparse, sys, time
from functools import partial
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
import jax, jax.numpy as jnp
from common import write
from squiggles_nb.model import get_model, as_function, split_fn, merge_fn
from squiggles_nb.data import Dataset
from squiggles_nb.attacks import (PAPER_EPS, pgd_l2, latent_classifier, cross_entropy, l2_normalize, project_l2, per_example,
                                  predict)
from squiggles_nb.boundary import boundary_distance, make_records, append_records, records_header

PAPER_N = 98_304


@partial(jax.jit, static_argnames="fn_static")
def _reference_step(fn_static, fn_arrays, x0, xa, y, eps, step_size):
    "One untargeted L2 PGD step (the same update as pgd_l2), for the reference Python loop."
    fn = merge_fn(fn_static, fn_arrays)
    g = jax.grad(lambda v: jnp.sum(cross_entropy(fn(v), y)))(xa)
    xa = xa + per_example(step_size, xa) * l2_normalize(g)
    return x0 + project_l2(xa - x0, eps)


def reference_pgd(fn, x, y, eps, steps):
    static, arrays = split_fn(fn)
    xa, eps = x, jnp.float32(eps)
    for _ in range(steps):
        xa = _reference_step(static, arrays, x, xa, y, eps, eps / 25)
    return xa


def timed(f, repeats):
    "Best and median seconds of f() (which must block) over `repeats` runs after one warm-up (compilation)."
    t = time.perf_counter(); f(); first = time.perf_counter() - t
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return dict(first_s=first, best_s=min(ts), median_s=float(np.median(ts)))


def throughput(args, model):
    fam_ds = Dataset(args.family, "test", 0, args.resolution)
    b = fam_ds.batch(0, args.batch)
    fn = as_function(model)
    out = {}
    for space, f, x in (("pixel", fn, b["image"]), ("latent", latent_classifier(fn, fam_ds.family, args.resolution), b["z"])):
        eps = 0.15 if space == "pixel" else 0.075
        ours = lambda: pgd_l2(f, x, b["label"], eps, steps=args.tp_steps).block_until_ready()
        ref = lambda: reference_pgd(f, x, b["label"], eps, args.tp_steps).block_until_ready()
        diff = float(jnp.max(jnp.abs(ours() - ref())))
        t_ours, t_ref = timed(ours, args.repeats), timed(ref, args.repeats)
        work = args.batch * args.tp_steps
        r = dict(batch=args.batch, steps=args.tp_steps, eps=eps, max_abs_diff_vs_reference=diff,
                 ours_example_iterations_per_s=work / t_ours["best_s"], ours_timing=t_ours,
                 reference_example_iterations_per_s=work / t_ref["best_s"], reference_timing=t_ref,
                 speedup_vs_reference=t_ref["best_s"] / t_ours["best_s"])
        print(f"{space:6s} PGD: ours {r['ours_example_iterations_per_s']:9.1f} ex-it/s, reference loop "
              f"{r['reference_example_iterations_per_s']:9.1f} ex-it/s, ratio {r['speedup_vs_reference']:.2f}, max|diff| {diff:.2e}")
        out[space] = r
    return out


def sweep(args, navigator):
    ds = Dataset(args.family, "test", 0, args.resolution)
    z = np.asarray(ds.batch(0, args.n, images=False)["z"])
    kw = dict(steps=args.steps, batch_size=args.sweep_batch, min_batch=args.min_batch)
    warm = dict(kw, steps=1)                                          # the step count is traced: same programs, compiled once
    boundary_distance(ds.family, z, navigator, **warm); boundary_distance(ds.family, z, navigator, early_stop=False, **warm)
    full = boundary_distance(ds.family, z, navigator, early_stop=False, **kw)
    early = boundary_distance(ds.family, z, navigator, **kw)
    same = bool(np.array_equal(early["distance"], full["distance"]))
    fin = np.isfinite(early["distance"])
    r = dict(n=args.n, family=args.family, steps=args.steps, eps_grid=list(PAPER_EPS), batch_size=args.sweep_batch,
             min_batch=args.min_batch, identical_distances=same,
             full_sweep=dict(passes=full["passes"], wall_s=full["wall_s"], passes_per_s=full["passes"] / full["wall_s"]),
             early_stopping=dict(passes=early["passes"], padded_passes=early["padded_passes"], wall_s=early["wall_s"],
                                 passes_per_s=early["passes"] / early["wall_s"]),
             passes_saved_fraction=1 - early["passes"] / full["passes"], wall_ratio=full["wall_s"] / early["wall_s"],
             flipped_fraction=float(fin.mean()),
             distance_histogram={f"{e:g}": int(np.sum(early["distance"] == e)) for e in PAPER_EPS} | {"inf": int((~fin).sum())})
    print(f"sweep n={args.n}: full {full['passes']} passes in {full['wall_s']:.1f} s, early stopping {early['passes']} "
          f"(+{early['padded_passes']} padded) in {early['wall_s']:.1f} s: {r['passes_saved_fraction']:.1%} passes saved, "
          f"wall ratio {r['wall_ratio']:.2f}, identical distances: {same}")
    if not same: raise SystemExit("early stopping changed the distances")
    return r


def timeboxed_sweep(args, navigator, model, nav_info):
    """Early-stopping sweep chunk by chunk until --budget-s is spent; projects the paper's 98,304-sample sweep.
    With --records, each chunk's per-example records (the analysed model's clean predictions, the distances) are appended."""
    ds = Dataset(args.family, "test", 0, args.resolution)
    header = records_header(dict(family=args.family, split="test", data_seed=0, resolution=args.resolution, model=args.model,
                                 navigator=nav_info, eps_grid=list(PAPER_EPS), steps=args.steps, attack=None), seed=0)
    if args.records and Path(args.records).exists(): raise SystemExit(f"{args.records} exists: choose a new --records path")
    t0, done, passes, full, chunks = time.perf_counter(), 0, 0, 0, []
    while time.perf_counter() - t0 < args.budget_s:
        t1 = time.perf_counter()
        b = ds.batch(done, args.chunk, images=bool(args.records))
        r = boundary_distance(ds.family, b["z"], navigator, steps=args.steps, batch_size=args.sweep_batch, min_batch=args.min_batch)
        if args.records:
            pred = np.asarray(predict(model, b["image"], args.sweep_batch))
            recs = make_records(np.arange(done, done + args.chunk), b["label"], pred, r["distance"],
                                grid_distance=r["grid_distance"], norm=r["norm"])
            append_records(args.records, recs, header=header,
                           chunk=dict(start=done, n=args.chunk, wall_s=time.perf_counter() - t1, passes=r["passes"]))
        done += args.chunk; passes += r["passes"]; full += r["full_sweep_passes"]
        chunks.append(dict(start=done - args.chunk, wall_s=r["wall_s"], passes=r["passes"]))
        print(f"  {done} samples, {time.perf_counter() - t0:.0f} s, passes saved so far {1 - passes / full:.1%}", flush=True)
    wall = time.perf_counter() - t0
    return dict(samples=done, chunk=args.chunk, wall_s=wall, passes=passes, full_sweep_passes=full,
                passes_saved_fraction=1 - passes / full, passes_per_s=passes / wall,
                projected_paper_sweep_s=wall * PAPER_N / done,
                projected_paper_full_sweep_without_early_stopping_s=wall * PAPER_N / done * full / passes, chunks=chunks,
                records=args.records)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="GPU mode: ResNet-34, batch 512, time-boxed sweep")
    ap.add_argument("--model", default=None, help="throughput model (default smallcnn on CPU, resnet34 with --gpu)")
    ap.add_argument("--navigator", default=None, help="training run dir of the navigator (default: a random model of --model)")
    ap.add_argument("--family", default="sinenet")
    ap.add_argument("--resolution", type=int, default=60)
    ap.add_argument("--batch", type=int, default=None, help="throughput batch (default 32 CPU, 512 GPU)")
    ap.add_argument("--tp-steps", type=int, default=None, help="PGD iterations per timed throughput run (default 10 CPU, 100 GPU)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n", type=int, default=None, help="sweep samples for full vs early stopping (default 16 CPU, 1024 GPU)")
    ap.add_argument("--steps", type=int, default=None, help="PGD iterations per sweep job (paper: 100; default 25 CPU, 100 GPU)")
    ap.add_argument("--sweep-batch", type=int, default=None, help="sweep batch (default 8 CPU, 512 GPU)")
    ap.add_argument("--min-batch", type=int, default=None)
    ap.add_argument("--timeboxed", action="store_true", help="run section 3, the time-boxed sweep (always on with --gpu)")
    ap.add_argument("--budget-s", type=float, default=300.0, help="seconds for the time-boxed sweep")
    ap.add_argument("--chunk", type=int, default=None, help="samples per chunk of the time-boxed sweep (default 16 CPU, 4096 GPU)")
    ap.add_argument("--records", default=None, help="also write per-example records (.jsonl) of the time-boxed samples")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--out", default="attacks.json")
    args = ap.parse_args()
    gpu = args.gpu
    if gpu and jax.default_backend() == "cpu": raise SystemExit("--gpu needs an accelerator; jax sees only the CPU")
    d = lambda v, cpu, g: v if v is not None else (g if gpu else cpu)
    args.model = d(args.model, "smallcnn", "resnet34")
    args.batch, args.tp_steps = d(args.batch, 32, 512), d(args.tp_steps, 10, 100)
    args.n, args.steps, args.sweep_batch = d(args.n, 16, 1024), d(args.steps, 25, 100), d(args.sweep_batch, 8, 512)
    args.min_batch = d(args.min_batch, args.sweep_batch, max(1, args.sweep_batch // 8))
    args.chunk = d(args.chunk, 16, 4096)

    model = get_model(args.model, args.resolution, 0)
    if args.navigator:
        from squiggles_nb.train import load_model, load_config, read_metrics
        navigator = load_model(args.navigator)
        evals = [m for m in read_metrics(args.navigator) if m["kind"] == "eval"]
        nav_info = dict(run_dir=str(args.navigator), config=load_config(args.navigator).to_dict(),
                        last_eval=evals[-1] if evals else None)
    else:
        navigator, nav_info = model, dict(random_init=args.model)
    print(f"backend {jax.default_backend()}, throughput model {args.model}, navigator {nav_info.get('run_dir', 'random ' + args.model)}")
    payload = dict(mode="gpu" if gpu else "cpu", model=args.model, navigator=nav_info, args=vars(args))
    if not args.skip_throughput:
        payload["pgd_throughput"] = throughput(args, model)
    payload["boundary_sweep"] = sweep(args, navigator)
    if gpu or args.timeboxed:
        payload["timeboxed_sweep"] = timeboxed_sweep(args, navigator, model, nav_info)
    write(args.out, payload)


if __name__ == "__main__":
    main()
