"""Where the time of the cpu recipe's training step goes on this machine's cores.

Traces a few calls of the compiled step of `squiggles train --model cpu` (the recipe's `train_step`: one generated
block, `block_steps` optimizer steps) with `jax.profiler`, and reads back every XLA operation each CPU worker thread
ran. Each operation is put in a kind by the JAX call that made it (its `op_name` in the compiled HLO): data
generation, forward convolution, gradient convolution, or other. It reports:

- the share of the traced calls' wall time (first operation to last) during which 0, 1, 2, ... worker threads were
  running an operation;
- the threads' busy time by kind, and the time each kind ran while no other thread had work ("alone");
- the operations that ran alone the longest, and the "other" kind's busy time by JAX primitive.

    python bench/cpu_profile.py                         # the recipe, 8 traced calls -> results/cpu_profile.json
    python bench/cpu_profile.py --fields '{"micro_batches": 4}' --out cpu_profile_mb4.json

Tracing slows the step by ~10%: images/s here are for the traced calls; `bench/cpu_wall.py` measures speed.
"""
import os, tempfile
DUMP = tempfile.mkdtemp()      # XLA writes the compiled step's HLO here: it names the operations the trace shows
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
                           f" --xla_dump_to={DUMP} --xla_dump_hlo_as_text --xla_dump_hlo_module_re=step_fn").strip()
import argparse, collections, glob, gzip, json, re, shutil, sys, time
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp
from common import write
from squiggles_nb.train import recipe_config, init_state, make_mesh, train_step

WRAPPERS = re.compile(r"^(ThunkExecutor|PjitFunction|CommonPjRt|SlinkyThreadPool|ThreadpoolListener|Wait for|end: |\$)")
KINDS = (("data generation", re.compile(r"while/body|_render|_raw_curve|_labels|pure_callback|jit\(_chunk|make_batch")),
         ("gradient convolution", re.compile(r"transpose\(jvp\(.*\)\)/conv_general_dilated")),
         ("forward convolution", re.compile(r"conv_general_dilated")))


def kind_of(op_name):
    for k, rx in KINDS:
        if rx.search(op_name): return k
    return "other"


def primitive(op_name):
    "The JAX primitive at the end of an op_name (e.g. reduce_sum), without its parameters."
    return re.sub(r"\[.*", "", op_name.split("/")[-1]) or op_name

def op_names(hlo_text):
    "instruction name -> the op_name of its metadata, from compiled HLO text."
    return {m.group(1): m.group(2) for m in re.finditer(r"%([\w.\-]+) = [^\n]*?op_name=\"([^\"]*)\"", hlo_text)}


def profile(fields, calls=8, warm=3):
    cfg = recipe_config("cpu", **fields)
    mesh = make_mesh(None)
    fn = train_step(cfg, mesh)
    st = init_state(cfg, mesh)
    s = [st.params, st.rest, st.opt_state]
    K, B = cfg.block_steps, cfg.batch_size
    for i in range(warm):
        p, r, o, m = fn(*s, jnp.uint32(i * K)); s[:] = [p, r, o]
    jax.block_until_ready(m)
    dumps = sorted(glob.glob(f"{DUMP}/*jit_step_fn*cpu_after_optimizations.txt"))
    if len(dumps) != 1: raise RuntimeError(f"expected one compiled step in {DUMP}, found {len(dumps)}")
    names = op_names(Path(dumps[0]).read_text())
    tmp = tempfile.mkdtemp()
    with jax.profiler.trace(tmp, create_perfetto_trace=True):
        t = time.perf_counter()
        for i in range(calls):
            p, r, o, m = fn(*s, jnp.uint32((warm + i) * K)); s[:] = [p, r, o]
        jax.block_until_ready(m)
        wall = time.perf_counter() - t
    d = json.load(gzip.open(sorted(glob.glob(f"{tmp}/plugins/profile/*/perfetto_trace.json.gz"))[-1]))
    shutil.rmtree(tmp, ignore_errors=True)
    ev = d["traceEvents"] if isinstance(d, dict) else d
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev if e.get("ph") == "M" and e.get("name") == "thread_name"}
    xs = [e for e in ev if e.get("ph") == "X"]
    ops = [e for e in xs if not WRAPPERS.match(e["name"]) and "Eigen" in threads.get((e["pid"], e["tid"]), "")]
    workers = sorted({(e["pid"], e["tid"]) for e in ops})
    t0 = min(e["ts"] for e in ops); n = int(max(e["ts"] + e["dur"] for e in ops) - t0) + 1   # the traced calls, in us
    grid = np.zeros((len(workers), n), bool)
    for e in ops: grid[workers.index((e["pid"], e["tid"])), int(e["ts"] - t0):int(e["ts"] - t0 + e["dur"]) + 1] = True
    count = grid.sum(0)
    busy_share = np.bincount(count, minlength=len(workers) + 1)[:len(workers) + 1] / n
    busy, alone, alone_op, other = collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()
    for e in ops:
        k = kind_of(names.get(e["name"], e["name"]))
        a = int((count[int(e["ts"] - t0):int(e["ts"] - t0 + e["dur"]) + 1] == 1).sum())
        busy[k] += e["dur"]; alone[k] += a; alone_op[e["name"]] += a
        if k == "other": other[primitive(names.get(e["name"], e["name"]))] += e["dur"]
    per_call = lambda us: round(us / 1e3 / calls, 2)
    top = [dict(op=k, kind=kind_of(names.get(k, k)), alone_ms_per_call=per_call(v), op_name=names.get(k, "")[-90:])
           for k, v in alone_op.most_common(12)]
    return dict(fields=fields, config=cfg.to_dict(), calls=calls, worker_threads=len(workers),
                images_per_s_traced=round(calls * K * B / wall, 1), ms_per_call=round(n / 1e3 / calls, 1),
                share_of_time_by_busy_threads={str(i): round(float(x), 3) for i, x in enumerate(busy_share)},
                busy_ms_per_call={k: per_call(v) for k, v in busy.most_common()},
                alone_ms_per_call={k: per_call(v) for k, v in alone.most_common()},
                other_busy_ms_per_call_by_primitive={k: per_call(v) for k, v in other.most_common(10)}, top_alone_ops=top)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fields", type=json.loads, default={}, help="TrainConfig fields over the cpu recipe, as JSON")
    ap.add_argument("--calls", type=int, default=8, help="traced calls of the step")
    ap.add_argument("--out", default="cpu_profile.json", help="result file name under bench/results")
    try:                                      # the HLO dump folder goes whatever happens, a refused argument included
        a = ap.parse_args(argv)
        if a.calls < 1: ap.error("--calls must be >= 1")
        r = profile(a.fields, a.calls)
    finally: shutil.rmtree(DUMP, ignore_errors=True)
    sh = r["share_of_time_by_busy_threads"]
    print(f"{r['images_per_s_traced']} img/s traced, {r['ms_per_call']} ms per call; share of time with 0/1/2.. threads busy: "
          + " / ".join(f"{v:.0%}" for v in sh.values()))
    for k, v in r["busy_ms_per_call"].items(): print(f"  {k:22s} busy {v:7.1f} ms/call, alone {r['alone_ms_per_call'].get(k, 0):6.1f}")
    print("  other, by primitive:", ", ".join(f"{k} {v:.1f}" for k, v in r["other_busy_ms_per_call_by_primitive"].items()))
    write(a.out, dict(command="python bench/cpu_profile.py " + " ".join(sys.argv[1:] if argv is None else argv), **r))


if __name__ == "__main__":
    main()
