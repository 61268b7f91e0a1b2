"""Training benchmarks (issue 3, section 4).

Throughput, in one process: a training step on a fixed, pre-generated batch (the reference: what a step costs when
the data is free, as with the paper's pre-generated shards) against our step that generates, labels and renders its
batch on the device; the data generation alone; the ratio and the share of the step spent on data.

    python bench/train.py --mode cpu            # SmallCNN on SineNet: >= 90% test accuracy within 5 minutes of training
    python bench/train.py --mode gpu --no-run   # ResNet-34, 60x60, batch 512, bf16 (+f32, 120x120, CIFAR stem, ResNet-18)
    python bench/train.py --mode gpu --run-only # the timed run: 8 minutes of training, <= 10 minutes in all
    python bench/train.py --mode gpu --run-only --minutes 5 --deadline 540 --out OUT   # + weights in OUT/weights
    python bench/train.py --mode cpu --minutes 1 --quick     # a smoke test

Targets (issue 3): CPU (2 cores): SmallCNN on SineNet reaches >= 90% test accuracy within 5 minutes of training.
GPU (H100): >= 50,000 images/s for ResNet-34 at 60x60, batch 512, bf16, data generated on the device, with data
generation < 5% of the step time; a run of <= 10 minutes reaches >= 98% within-distribution accuracy on SineNet.
"Minutes of training" counts the training steps only (`train_seconds`: compilation and evaluation excluded);
wall-clock time is recorded too. Writes bench/results/train_cpu.json or bench/results/train_gpu.json.
"""
import argparse, dataclasses, os, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp
from common import write
from squiggles_nb.data import Dataset
from squiggles_nb.records import binomial_interval, versions
from squiggles_nb.train import TrainConfig, train, evaluate, read_metrics, throughput
from squiggles_nb.model import count_params, flops_per_image, get_model
from flax import nnx


def print_tp(r):
    print(f"{r['model']:9s} {r['resolution']:4d} {r['stem']:8s} {r['dtype']:8s} B={r['batch_size']:4d}: "
          f"data alone {r['data_generation_images_per_s']:9.0f} img/s | fixed batch {r['fixed_batch_step_images_per_s']:8.0f} img/s"
          f" | full step {r['full_step_images_per_s']:8.0f} img/s | full/fixed {r['ratio_full_to_fixed']:.3f}"
          f" | data share {100 * r['data_share_of_step_alone']:.1f}%", flush=True)


T_START = time.time()


def timed_run(config, budget_s, final_n, out_dir, probe_steps=30, deadline_s=None, weights_dir=None):
    """Train `config` with `steps` chosen so that the cosine schedule ends within `budget_s` of training.

    The step count comes from a short probe of the full step's throughput (taken here, in the same conditions).
    `deadline_s` (seconds since the process started) stops training early enough to evaluate and save; `weights_dir`
    receives the trained weights (`train.save_weights`), which are reloaded and evaluated again."""
    tp = throughput(dataclasses.replace(config, steps=probe_steps), repeats=1, n_steps=max(3, probe_steps // 3))
    rate = tp["full_step_images_per_s"]
    steps = max(10, int(0.92 * budget_s * rate / config.batch_size))   # 8% headroom for load fluctuations
    cfg = dataclasses.replace(config, steps=steps, eval_every=max(1, steps // 10), log_every=max(1, steps // 50),
                              checkpoint_every=steps)
    print(f"probe: {rate:.0f} img/s -> {steps} steps of {config.batch_size} in a budget of {budget_s:.0f} s", flush=True)
    max_minutes = budget_s / 60 * 1.5 + 2
    if deadline_s is not None:   # keep 90 s for the final evaluation and the weights
        max_minutes = max(0.0, min(max_minutes, (deadline_s - (time.time() - T_START) - 90) / 60))
    def show(rec):
        if rec["kind"] == "eval": print(f"eval at step {rec['step']}: accuracy {rec['accuracy']:.4f} ROC-AUC {rec['roc_auc']:.4f} "
                                        f"(n={rec['n']}, {rec['train_seconds']:.0f} s of training)", flush=True)
    res = train(cfg, out_dir, max_minutes=max_minutes, progress=True, callback=show)
    model = res.pop("model")
    t = time.time()
    final = evaluate(model, Dataset(config.family, "test", config.data_seed, config.resolution), final_n,
                     batch_size=1024 if final_n >= 1024 else final_n)
    final["seconds"] = round(time.time() - t, 2)
    lo, hi = binomial_interval(round(final["accuracy"] * final_n), final_n)
    final["accuracy_ci95"] = (round(lo, 5), round(hi, 5))
    recs = read_metrics(out_dir)
    curve = [dict(step=r["step"], images_seen=r["images_seen"], train_seconds=r["train_seconds"], accuracy=r["accuracy"],
                  roc_auc=r["roc_auc"], n=r["n"]) for r in recs if r["kind"] == "eval"]
    train_curve = [dict(step=r["step"], images_seen=r["images_seen"], train_seconds=r["train_seconds"], loss=round(r["loss"], 5),
                        accuracy=round(r["accuracy"], 5), images_per_s=r["images_per_s"]) for r in recs if r["kind"] == "train"]
    print(f"final test accuracy {final['accuracy']:.4f} (95% CI {final['accuracy_ci95']}) on {final_n}", flush=True)
    weights = None
    if weights_dir is not None:
        from squiggles_nb.train import save_weights, load_weights
        manifest = save_weights(model, cfg, weights_dir)
        t = time.time()
        again = evaluate(load_weights(weights_dir), Dataset(config.family, "test", config.data_seed, config.resolution), final_n,
                         batch_size=1024 if final_n >= 1024 else final_n)
        weights = dict(folder=str(weights_dir), parts=manifest["parts"], reloaded_eval=dict(
            accuracy=again["accuracy"], roc_auc=again["roc_auc"], n=again["n"], seconds=round(time.time() - t, 2)))
        print(f"weights: {len(manifest['parts'])} parts, {sum(p['bytes'] for p in manifest['parts'])} bytes; reloaded "
              f"(bfloat16 parameters) test accuracy {again['accuracy']:.4f}", flush=True)
    return dict(probe_images_per_s=rate, config=cfg.to_dict(), result={k: v for k, v in res.items() if k != "config"},
                final_eval=final, eval_curve=curve, train_curve=train_curve, weights=weights)


def cpu(args):
    load_before = os.getloadavg()
    base = TrainConfig(family="sinenet", model="smallcnn", width=args.width, batch_size=args.batch, learning_rate=args.lr,
                       steps=100, eval_size=2048)
    tp = throughput(base, repeats=2 if args.quick else 3)
    print_tp(tp)
    with tempfile.TemporaryDirectory() as tmp:
        run = timed_run(base, 60 * args.minutes, args.final_n, Path(tmp) / "run")
    r, fe = run["result"], run["final_eval"]
    reached = next((c for c in run["eval_curve"] if c["accuracy"] >= 0.9), None)
    met = fe["accuracy"] >= 0.9 and r["train_seconds"] <= 60 * args.minutes
    print(f"final test accuracy {fe['accuracy']:.4f} (95% CI {fe['accuracy_ci95']}) ROC-AUC {fe['roc_auc']:.4f} on {fe['n']} samples; "
          f"train {r['train_seconds']:.0f} s, wall {r['wall_seconds']:.0f} s, {r['images_per_s']} img/s; target met: {met}")
    write("train_cpu.json" if not args.quick else "train_cpu_quick.json", dict(
        target="SmallCNN on SineNet >= 90% test accuracy within 5 minutes of training on 2 CPU cores",
        target_met=bool(met), minutes_budget=args.minutes, load_average_before=load_before, load_average_after=os.getloadavg(),
        note="the CPU is shared with other jobs; load averages above 2 mean fewer than 2 cores were ours",
        model_params=count_params(get_model("smallcnn", 60, 0, width=args.width)),
        throughput=tp, first_eval_at_or_above_90=reached, **run, library_versions=versions()))


def gpu(args):
    load_before = os.getloadavg()
    variants = [dict(model="resnet34", resolution=60, stem="standard", dtype="bfloat16"),
                dict(model="resnet34", resolution=60, stem="standard", dtype="float32"),
                dict(model="resnet34", resolution=120, stem="standard", dtype="bfloat16"),
                dict(model="resnet34", resolution=60, stem="cifar", dtype="bfloat16"),
                dict(model="resnet18", resolution=60, stem="standard", dtype="bfloat16")]
    if args.quick: variants = variants[:1]
    if args.run_only: variants = []
    B = 512
    if args.smoke:   # exercise this code path on a CPU: tiny widths, small batches (numbers meaningless)
        variants, B = [dict(v, width=4) for v in variants], 64
    tps = []
    for v in variants:
        cfg = TrainConfig(family="sinenet", batch_size=B, **v)
        tp = throughput(cfg, repeats=1 if args.smoke else 3, n_steps=2 if args.smoke else 20)
        tp["gflops_forward_per_image"] = round(flops_per_image(nnx.eval_shape(
            lambda: get_model(v["model"], v["resolution"], 0, stem=v["stem"], width=v.get("width"))), v["resolution"]) / 1e9, 4)
        print_tp(tp); tps.append(tp)
    main = tps[0] if tps else None
    run = None
    if not args.no_run:
        with tempfile.TemporaryDirectory() as tmp:
            base = TrainConfig(family="sinenet", model="resnet34", dtype="bfloat16", eval_size=8192)
            if args.smoke: base = dataclasses.replace(base, width=4, batch_size=B, eval_size=256)
            run = timed_run(base, 60 * args.minutes, args.final_n, Path(tmp) / "run", probe_steps=6 if args.smoke else 60,
                            deadline_s=args.deadline, weights_dir=None if args.out is None else Path(args.out) / "weights")
        fe = run["final_eval"]
        print(f"10-minute run: test accuracy {fe['accuracy']:.4f} ROC-AUC {fe['roc_auc']:.4f} on {fe['n']}; "
              f"train {run['result']['train_seconds']:.0f} s")
    name = ("train_gpu_smoke.json" if args.smoke else "train_gpu_quick.json" if args.quick else
            "train_gpu_run.json" if args.run_only else "train_gpu.json")
    path = write(name, dict(
        targets=dict(images_per_s=">= 50,000 (ResNet-34, 60x60, batch 512, bf16, H100)", data_share="< 5% of the step",
                     accuracy=">= 98% within-distribution SineNet after <= 10 minutes"),
        target_met=dict(images_per_s=None if main is None else main["full_step_images_per_s"] >= 50_000,
                        data_share=None if main is None else main["data_share_of_step_alone"] < 0.05,
                        accuracy=None if run is None else run["final_eval"]["accuracy"] >= 0.98),
        load_average_before=load_before, throughput=tps, run=run, library_versions=versions()))
    if args.out is not None:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(args.out) / name)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--minutes", type=float, default=None, help="training budget (default: 5 on cpu, 8 on gpu)")
    ap.add_argument("--final-n", type=int, default=None, help="test samples of the final evaluation (default 10,000 cpu, 98,304 gpu)")
    ap.add_argument("--width", type=int, default=8, help="SmallCNN width (cpu mode)")
    ap.add_argument("--batch", type=int, default=64, help="batch size (cpu mode)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (cpu mode)")
    ap.add_argument("--no-run", action="store_true", help="gpu mode: throughput only, no timed training run")
    ap.add_argument("--run-only", action="store_true", help="gpu mode: only the timed training run (fits one 10-minute device call)")
    ap.add_argument("--smoke", action="store_true", help="gpu mode on a CPU with tiny models, to test the code path")
    ap.add_argument("--quick", action="store_true", help="fewer repeats/variants; writes *_quick.json")
    ap.add_argument("--out", default=None, help="gpu mode: also copy the result file here, and write the trained weights to OUT/weights")
    ap.add_argument("--deadline", type=float, default=None, help="gpu mode: seconds from start by which the run must end")
    args = ap.parse_args()
    if args.minutes is None: args.minutes = 5.0 if args.mode == "cpu" else 8.0
    if args.final_n is None: args.final_n = 10_000 if args.mode == "cpu" else 98_304
    if args.mode == "gpu" and jax.default_backend() == "cpu" and not args.smoke:
        sys.exit("--mode gpu needs an accelerator (jax.default_backend() is 'cpu')")
    (cpu if args.mode == "cpu" else gpu)(args)
