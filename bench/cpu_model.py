"""Models worth analysing on a laptop: SineNet test accuracy against minutes of CPU training.

Candidates are small CNNs trained on data generated inside the jitted step (as `squiggles_nb.train` does), each with
its recipe (batch size, steps per generated block, peak learning rate). Today's SmallCNN (`library="smallcnn"`, its
`nnx.max_pool`) is the reference; the others are layer lists whose 2x2 max-pools are a reshape and a max (XLA's CPU
gradient of `reduce_window` is slow), mostly at batch 64 with 4 optimizer steps per generated block of 256 samples
(the data layer makes samples in chunks of 256, so generating 64 costs as much as 256). All use Adam with a learning
rate that follows the *time* budget: a linear warm-up over 200 steps, a constant peak, and a linear cool-down to 0
over the last 20% of the budget (`wsd_lr`), so the schedule ends when the budget does whatever the load of the
machine. Every point ends with `evaluate` on 10,000 samples of Dataset("sinenet", "test", 0, 60).

    python bench/cpu_model.py --throughput --candidates a,b      # img/s and CPU ms/img of each step, data share
    python bench/cpu_model.py --screen --steps 1500               # accuracy after a fixed number of steps
    python bench/cpu_model.py --curves --minutes 1,2,4 --candidates NAME --jsonl F.jsonl   # one run, one point per budget
    python bench/cpu_model.py --report A.jsonl,B.jsonl --out cpu_model.json                # table, JSON and figure

"Minutes" count training steps only (compilation and evaluation excluded). With --clock cpu (the default) a minute
is 120 seconds of this process's CPU time (user + system, all threads): a minute of 2 fully used cores on a quiet
machine. The 2 cores are shared with other jobs, so wall time would measure the load, not the model; wall time,
CPU time and load averages are recorded beside each point. `--curves` writes one JSON line per evaluated budget to
--jsonl as it goes, so a killed run keeps what it measured; `--report` merges them into bench/results/cpu_model.json
and bench/results/cpu_model.png.
"""
import argparse, dataclasses, json, math, os, resource, sys, tempfile, time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
import numpy as np
import jax, jax.numpy as jnp
import optax
from flax import nnx
from common import write, RESULTS
from squiggles_nb.data import Dataset
from squiggles_nb.records import binomial_interval, versions
from squiggles_nb.model import count_params, BN_MOMENTUM, get_model, MODELS
from squiggles_nb.train import TrainConfig, train, evaluate, read_metrics

TEST = Dataset("sinenet", "test", 0, 60)
TRAIN = Dataset("sinenet", "train", 0, 60)
he = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


def cpu_seconds():
    "CPU time of this process, all threads (user + system)."
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pool2(x):
    "2x2 max-pool, stride 2, as a reshape and a max (XLA's CPU reduce_window gradient is several times slower); odd sizes padded with 0 (inputs are >= 0 after ReLU)."
    N, H, W, C = x.shape
    h, w = H + H % 2, W + W % 2
    if (h, w) != (H, W): x = jnp.pad(x, ((0, 0), (0, h - H), (0, w - W), (0, 0)))
    return x.reshape(N, h // 2, 2, w // 2, 2, C).max(axis=(2, 4))


def _cols(x, k):
    "im2col of a stride-1 'SAME' k x k convolution: (N, H, W, k*k*C), taps in (dy, dx, C) order."
    H, W = x.shape[1:3]; a, b = (k - 1) // 2, k // 2
    xp = jnp.pad(x, ((0, 0), (a, b), (a, b), (0, 0)))
    return jnp.concatenate([xp[:, i:i + H, j:j + W] for i in range(k) for j in range(k)], -1)


def _conv(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), [((w.shape[0] - 1) // 2, w.shape[0] // 2)] * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


@jax.custom_vjp
def conv_same(x, w):
    "Stride-1 'SAME' convolution whose kernel gradient is one matmul over im2col columns (XLA's CPU kernel gradient is slow)."
    return _conv(x, w)

def _conv_fwd(x, w): return _conv(x, w), (x, w)

def _conv_bwd(res, g):
    x, w = res
    k, C, O = w.shape[0], w.shape[2], w.shape[3]
    gx = jax.lax.conv_general_dilated(g, jnp.flip(w, (0, 1)).swapaxes(2, 3), (1, 1), [(k // 2, (k - 1) // 2)] * 2,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
    gw = (_cols(x, k).reshape(-1, k * k * C).T @ g.reshape(-1, O)).reshape(k, k, C, O)
    return gx, gw

conv_same.defvjp(_conv_fwd, _conv_bwd)


def conv_same_general(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None, dimension_numbers=None,
                      feature_group_count=1, precision=None, preferred_element_type=None, **kw):
    "A drop-in for nnx.Conv's `conv_general_dilated` argument (stride 1, 'SAME' padding, no dilation or groups only)."
    assert tuple(window_strides) == (1, 1) and feature_group_count == 1
    return conv_same(lhs, rhs)


class Net(nnx.Module):
    """A CNN from a layer list: ('c', out, k, stride) conv-BN-ReLU; ('p',) 2x2 max-pool (reshape); ('rw',) 2x2 max-pool
    (reduce_window, as SmallCNN); ('s2d', f) space-to-depth by f. Head: global 'max', 'avg' or 'maxavg', then linear."""
    def __init__(self, layers, head="max", fast_conv=False, *, rngs: nnx.Rngs):
        self.layers, self.head_kind = tuple(tuple(l) for l in layers), head
        extra = dict(conv_general_dilated=conv_same_general) if fast_conv else {}
        convs, bns, cin = [], [], 1
        for l in self.layers:
            if l[0] == "c":
                _, cout, k, s = l
                pad = "SAME" if s > 1 else (((k - 1) // 2, k // 2),) * 2
                convs.append(nnx.Conv(cin, cout, (k, k), strides=s, padding=pad, use_bias=False, kernel_init=he, rngs=rngs,
                                      **(extra if s == 1 else {})))
                bns.append(nnx.BatchNorm(cout, momentum=BN_MOMENTUM, rngs=rngs)); cin = cout
            elif l[0] == "s2d": cin *= l[1] ** 2
        self.convs, self.bns = nnx.List(convs), nnx.List(bns)
        self.head = nnx.Linear(2 * cin if head == "maxavg" else cin, 2, rngs=rngs)

    def __call__(self, images):
        x = images[..., None].astype(jnp.float32)
        i = 0
        for l in self.layers:
            if l[0] == "c": x = nnx.relu(self.bns[i](self.convs[i](x))); i += 1
            elif l[0] == "p": x = pool2(x)
            elif l[0] == "rw": x = nnx.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
            elif l[0] == "s2d":
                f = l[1]; N, H, W, C = x.shape
                x = x.reshape(N, H // f, f, W // f, f, C).transpose(0, 1, 3, 2, 4, 5).reshape(N, H // f, W // f, f * f * C)
        h = {"max": lambda: x.max(axis=(1, 2)), "avg": lambda: x.mean(axis=(1, 2)),
             "maxavg": lambda: jnp.concatenate([x.max(axis=(1, 2)), x.mean(axis=(1, 2))], -1)}[self.head_kind]()
        return self.head(h)


def c(n, k=3, s=1): return ("c", n, k, s)
P, RW = ("p",), ("rw",)   # 2x2 max-pool as a reshape and max; the same with reduce_window (as SmallCNN)


@dataclass(frozen=True)
class Candidate:
    "An architecture (layer list, or a library model name) with its training recipe."
    name: str
    layers: tuple = ()
    head: str = "max"
    library: str | None = None      # a name in squiggles_nb.model.MODELS instead of `layers`
    width: int | None = None
    batch: int = 256
    micro: int = 1                  # optimizer steps per generated block of micro * batch samples
    lr: float = 3e-3
    warmup: float = 0.02            # fraction of the budget spent warming up linearly from 0
    fast_conv: bool = False         # kernel gradients by im2col matmul
    note: str = ""

    def build(self, seed=0):
        if self.library is not None: return get_model(self.library, 60, seed, width=self.width)
        return Net(self.layers, self.head, self.fast_conv, rngs=nnx.Rngs(params=jax.random.key(seed)))


CANDIDATES = {k.name: k for k in [
    Candidate("smallcnn-b64", library="smallcnn", width=8, batch=64, note="today's SmallCNN, batch 64, time-fitted cosine"),
    Candidate("smallcnn-b256", library="smallcnn", width=8, batch=256),
    Candidate("small8-rwpool", (c(8), RW, c(16), RW, c(32), RW, c(32))),
    Candidate("small8-fastpool", (c(8), P, c(16), P, c(32), P, c(32))),
    Candidate("small8-b64x4", (c(8), P, c(16), P, c(32), P, c(32)), batch=64, micro=4),
    Candidate("small8-b128x2", (c(8), P, c(16), P, c(32), P, c(32)), batch=128, micro=2),
    Candidate("small8-b32x8", (c(8), P, c(16), P, c(32), P, c(32)), batch=32, micro=8),
    Candidate("small16-fastpool", (c(16), P, c(32), P, c(64), P, c(64))),
    Candidate("deep-a", (c(8), P, c(16), c(16), P, c(32), c(32), P, c(64), c(64))),
    Candidate("deep-b", (c(16), P, c(32), c(32), P, c(64), c(64), P, c(128))),
    Candidate("s2d-a", (("s2d", 2), c(16), c(32), P, c(64), c(64), P, c(128))),
    Candidate("wide-late", (c(8), P, c(16), P, c(32), c(64), P, c(128))),
]}
ARCHS = {
    "small8": (c(8), P, c(16), P, c(32), P, c(32)),
    "small12": (c(12), P, c(24), P, c(48), P, c(48)),
    "small16": (c(16), P, c(32), P, c(64), P, c(64)),
    "wide-late": (c(8), P, c(16), P, c(32), c(64), P, c(128)),
    "deep-a": (c(8), P, c(16), c(16), P, c(32), c(32), P, c(64), c(64)),
    "s2d-a": (("s2d", 2), c(16), c(32), P, c(64), c(64), P, c(128)),
}
for _a, _l in ARCHS.items():
    CANDIDATES[_a + "-x4"] = Candidate(_a + "-x4", _l, batch=64, micro=4)
for _k in list(CANDIDATES):
    if CANDIDATES[_k].library is None: CANDIDATES[_k + "-fc"] = dataclasses.replace(CANDIDATES[_k], name=_k + "-fc", fast_conv=True)


def make_step(model, batch, generate=True, micro=1):
    """Jitted step(params, rest, opt_state, start, lr) on a batch generated in the step (or, with generate=False,
    step(params, rest, opt_state, images, labels, lr) on a given batch); returns (params, rest, opt_state, loss, acc).
    `micro` > 1: one call generates micro * batch samples at once (the data layer makes samples in chunks of 256, so
    a call for 64 costs as much as one for 256) and makes `micro` optimizer steps on consecutive slices of `batch`
    (unrolled), with learning rates lr[0..micro-1]: the same samples and updates as `micro` calls of size `batch`.
    generate="pipelined": step(params, rest, opt_state, images, labels, next_start, lr) updates on the given batch and
    generates the next one in the same program (independent work XLA may run concurrently); it also returns that batch."""
    model.train()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)
    gen = TRAIN.make_batch_fn(batch * micro)

    def loss_fn(params, rest, images, labels):
        mm = nnx.merge(graphdef, params, jax.tree.map(lambda a: a, rest))
        logits = mm(images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), (logits, nnx.split(mm, nnx.Param, ...)[2])

    def update1(params, rest, opt_state, images, labels, lr):
        (loss, (logits, rest)), g = jax.value_and_grad(loss_fn, has_aux=True)(params, rest, images, labels)
        opt_state.hyperparams["learning_rate"] = lr
        updates, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state, loss, (logits.argmax(-1) == labels).mean()

    def update(params, rest, opt_state, images, labels, lr):
        if micro == 1: return update1(params, rest, opt_state, images, labels, lr)
        losses, accs = [], []
        for j in range(micro):    # unrolled: XLA's CPU runtime runs convolutions in a while loop (lax.scan) far slower
            sl = slice(j * batch, (j + 1) * batch)
            params, rest, opt_state, l, a = update1(params, rest, opt_state, images[sl], labels[sl], lr[j])
            losses.append(l); accs.append(a)
        return params, rest, opt_state, jnp.mean(jnp.stack(losses)), jnp.mean(jnp.stack(accs))

    def step(params, rest, opt_state, start, lr):
        b = gen(start)
        return update(params, rest, opt_state, b["image"], b["label"], lr)

    def pipelined(params, rest, opt_state, images, labels, next_start, lr):
        b = gen(next_start)
        return update(params, rest, opt_state, images, labels, lr) + (b["image"], b["label"])

    f = jax.jit({True: step, False: update, "pipelined": pipelined}[generate], donate_argnums=(0, 1, 2))
    return f, graphdef, params, rest, tx.init(params)


def throughput(names, rounds=3, n_steps=4, log=print):
    """Images/s of each candidate's full step (data generated inside), of its update on a fixed batch, and of the data
    generation alone; the candidates are timed in turn, `rounds` times, and the best round is kept (the machine is shared)."""
    setups = {}
    gens = {}
    for name in names:
        cand = CANDIDATES[name]
        Bc = cand.batch * cand.micro
        if Bc not in gens:
            g = jax.jit(TRAIN.make_batch_fn(Bc)); jax.block_until_ready(g(jnp.uint32(0))); gens[Bc] = g
        b = gens[Bc](jnp.uint32(0))
        full = make_step(cand.build(), cand.batch, micro=cand.micro)
        fixed = make_step(cand.build(), cand.batch, generate=False, micro=cand.micro)
        piped = make_step(cand.build(), cand.batch, generate="pipelined", micro=cand.micro)
        setups[name] = dict(cand=cand, full=[full[0], list(full[2:])], fixed=[fixed[0], list(fixed[2:])], batch=b,
                            piped=[piped[0], list(piped[2:]) + [b["image"], b["label"]]])
    def timed(fn):
        t, c0 = time.perf_counter(), cpu_seconds()
        fn()
        return time.perf_counter() - t, cpu_seconds() - c0
    best = {n: {} for n in names}
    for r in range(rounds + 1):          # round 0 compiles and warms up
        for name, s in setups.items():
            B = s["cand"].batch * s["cand"].micro
            lr = jnp.full((s["cand"].micro,), 1e-4) if s["cand"].micro > 1 else jnp.float32(1e-4)
            def run_full():
                f, st = s["full"]
                for k in range(n_steps): out = f(*st, jnp.uint32(k * B), lr); st[:] = out[:3]
                jax.block_until_ready(out)
            def run_fixed():
                f, st = s["fixed"]
                for k in range(n_steps): out = f(*st, s["batch"]["image"], s["batch"]["label"], lr); st[:] = out[:3]
                jax.block_until_ready(out)
            def run_gen():
                g = gens[B]
                for k in range(n_steps): out = g(jnp.uint32(k * B))
                jax.block_until_ready(out)
            def run_piped():
                f, st = s["piped"]
                for k in range(n_steps):
                    out = f(*st, jnp.uint32(k * B), lr); st[:] = list(out[:3]) + list(out[5:])
                jax.block_until_ready(out)
            for kind, fn in (("full", run_full), ("fixed", run_fixed), ("data", run_gen), ("pipelined", run_piped)):
                dt, dc = timed(fn)
                if r and dt < best[name].get(kind, (1e9,))[0]: best[name][kind] = (dt, dc, os.getloadavg()[0])
    rows = []
    for name in names:
        B, bb = CANDIDATES[name].batch * CANDIDATES[name].micro, best[name]
        rate = {k: n_steps * B / v[0] for k, v in bb.items()}
        rows.append(dict(name=name, params=count_params(CANDIDATES[name].build()), batch=CANDIDATES[name].batch,
                         micro=CANDIDATES[name].micro,
                         full_step_images_per_s=round(rate["full"], 1),
                         pipelined_step_images_per_s=round(rate["pipelined"], 1), fixed_batch_images_per_s=round(rate["fixed"], 1),
                         data_alone_images_per_s=round(rate["data"], 1),
                         data_share_of_step_alone=round(rate["full"] / rate["data"], 3),
                         data_share_of_step_difference=round(max(0.0, 1 - rate["full"] / rate["fixed"]), 3),
                         cpu_ms_per_image_full=round(1e3 * bb["full"][1] / (n_steps * B), 3),
                         cpu_ms_per_image_fixed=round(1e3 * bb["fixed"][1] / (n_steps * B), 3),
                         cpu_per_wall_full=round(bb["full"][1] / bb["full"][0], 2), load1_full=round(bb["full"][2], 2)))
        log(json.dumps(rows[-1]))
    return rows


def final_eval(model_fn_or_module, n):
    t = time.time()
    r = evaluate(model_fn_or_module, TEST, n, batch_size=1000 if n % 1000 == 0 else min(n, 1024))
    lo, hi = binomial_interval(round(r["accuracy"] * n), n)
    return dict(accuracy=r["accuracy"], accuracy_ci95=(round(lo, 5), round(hi, 5)), roc_auc=round(r["roc_auc"], 5), n=n,
                seconds=round(time.time() - t, 2))


class Clock:
    "Seconds of training: wall time, or this process's CPU time over `cores` (a busy machine slows the wall clock, not the work)."
    def __init__(self, kind="cpu", cores=2):
        assert kind in ("cpu", "wall")
        self.kind, self.cores, self.seconds, self.wall, self.cpu = kind, cores, 0.0, 0.0, 0.0

    def run(self, fn):
        "Call fn() (which must block until its work is done) and count its time."
        t, c0 = time.time(), cpu_seconds()
        out = fn()
        dw, dc = time.time() - t, cpu_seconds() - c0
        self.wall += dw; self.cpu += dc
        self.seconds += dw if self.kind == "wall" else dc / self.cores
        return out


def wsd_lr(t, budget, peak, warmup_steps, step, cooldown):
    "Warm-up (linear over warmup_steps), a constant peak, then a linear decay to 0 over the last `cooldown` of `budget` seconds."
    w = min(1.0, (step + 1) / warmup_steps)
    return peak * w * min(1.0, max(0.0, (budget - t) / (cooldown * budget)))


def train_ours(cand, budgets, *, clock="cpu", cores=2, schedule="wsd", cooldown=0.2, warmup_steps=200, final_n=10_000,
               seed=0, log_every_s=60.0, log=print, keep_model=False, on_point=None):
    """Train `cand` once and report the test accuracy after each training budget in `budgets` (minutes of `clock`).

    schedule="wsd": warm-up, then a constant learning rate (the trunk); at (1 - cooldown) of each budget the state is
    copied and a branch decays the learning rate linearly to 0 by the budget, is evaluated on `final_n` test samples
    and dropped, and the trunk goes on. Each branch is exactly the run that budget alone would make, so one run gives
    the whole accuracy-vs-minutes curve, every point annealed. schedule="cosine" (one budget only): warm-up, then
    cosine decay to 0 as a function of clock seconds / budget. Returns a JSON-able record (and the last model if asked);
    on_point(record so far) is called after each budget's evaluation, so that a killed run keeps what it measured."""
    budgets = sorted(float(b) for b in budgets)
    assert schedule == "wsd" or len(budgets) == 1
    B, k = cand.batch, cand.micro
    model = cand.build(seed)
    step, graphdef, params, rest, opt = make_step(model, B, micro=k)
    load0, cpu0, wall0 = os.getloadavg(), cpu_seconds(), time.time()
    lr0 = jnp.zeros((k,)) if k > 1 else jnp.float32(0)
    t = time.time(); step_c = step.lower(params, rest, opt, jnp.uint32(0), lr0).compile(); compile_s = time.time() - t
    ck = Clock(clock, cores)
    state = dict(params=params, rest=rest, opt=opt, i=0, dt=0.0)
    points, curve, last_model = [], [], None

    def lr_for(st, j, budget, t0):
        tj = t0 + j * st["dt"]
        if schedule == "cosine":
            return float(optax.warmup_cosine_decay_schedule(0.0, cand.lr, warmup_steps, 10 ** 6)(
                warmup_steps + int((10 ** 6 - warmup_steps) * min(1.0, tj / budget)))) if st["i"] + j >= warmup_steps else \
                cand.lr * (st["i"] + j + 1) / warmup_steps
        return wsd_lr(tj, budget, cand.lr, warmup_steps, st["i"] + j, cooldown)

    def one_step(st, c, budget):
        lrs = [lr_for(st, j, budget, c.seconds) for j in range(k)]
        lr_arg = jnp.asarray(lrs, jnp.float32) if k > 1 else jnp.float32(lrs[0])
        def run():
            out = step_c(st["params"], st["rest"], st["opt"], jnp.uint32(st["i"] * B), lr_arg)
            return out, float(out[3])          # blocks until the step is done
        s0 = c.seconds
        (p, r, o, loss, acc), loss = c.run(run)
        st.update(params=p, rest=r, opt=o, i=st["i"] + k, dt=(c.seconds - s0) / k)
        return loss, lrs[-1]

    def record():
        return dict(candidate=dataclasses.asdict(cand), params=count_params(model), clock=clock, cores=cores, schedule=schedule,
               cooldown=cooldown if schedule == "wsd" else None, warmup_steps=warmup_steps, compile_seconds=round(compile_s, 2),
               wall_seconds_total=round(time.time() - wall0, 1), cpu_seconds_total=round(cpu_seconds() - cpu0, 1),
               load_average_before=load0, load_average_after=os.getloadavg(), points=points, curve=curve)

    next_log = log_every_s
    for budget_min in budgets:
        budget = 60.0 * budget_min
        start = (1 - cooldown) * budget if schedule == "wsd" else budget
        while ck.seconds < start:                               # the trunk (constant learning rate after warm-up)
            loss, lr = one_step(state, ck, 10 * budget if schedule == "wsd" else budget)
            if ck.seconds >= next_log:
                curve.append(dict(step=state["i"], seconds=round(ck.seconds, 1), wall=round(ck.wall, 1), cpu=round(ck.cpu, 1),
                                  loss=round(loss, 4), lr=lr, load1=round(os.getloadavg()[0], 2)))
                log(f"  {cand.name}: step {state['i']} ({state['i'] * B} images) clock {ck.seconds:.0f} s (wall {ck.wall:.0f} s, "
                    f"cpu {ck.cpu:.0f} s), loss {loss:.3f}, lr {lr:.2e}, load {os.getloadavg()[0]:.2f}", flush=True)
                next_log += log_every_s
        if schedule == "wsd":                                   # the branch: cool down to 0 at the budget
            br = dict(state, params=jax.tree.map(jnp.copy, state["params"]), rest=jax.tree.map(jnp.copy, state["rest"]),
                      opt=jax.tree.map(jnp.copy, state["opt"]))
            bc = Clock(clock, cores); bc.seconds, bc.wall, bc.cpu = ck.seconds, ck.wall, ck.cpu
            while bc.seconds < budget: loss, lr = one_step(br, bc, budget)
        else:
            br, bc = state, ck
        mm = nnx.merge(graphdef, br["params"], br["rest"]); mm.eval()
        fe = final_eval(mm, final_n)
        points.append(dict(minutes=budget_min, steps=br["i"], images=br["i"] * B, clock_seconds=round(bc.seconds, 1),
                           wall_seconds=round(bc.wall, 1), cpu_seconds=round(bc.cpu, 1),
                           images_per_wall_s=round(br["i"] * B / bc.wall, 1), cpu_ms_per_image=round(1e3 * bc.cpu / (br["i"] * B), 3),
                           load1=round(os.getloadavg()[0], 2), final_eval=fe))
        log(f"  {cand.name} @ {budget_min:g} min ({clock} clock): {br['i']} steps, {br['i'] * B} images, wall {bc.wall:.0f} s, "
            f"cpu {bc.cpu:.0f} s: test accuracy {fe['accuracy']:.4f} {fe['accuracy_ci95']} (load {os.getloadavg()[0]:.2f})", flush=True)
        if keep_model: last_model = mm
        if on_point: on_point(record())
    return (record(), last_model) if keep_model else record()


def train_steps(cand, steps, final_n=10_000, seed=0, log=print):
    "Screening: `steps` optimizer steps with a warm-up + cosine schedule over the step count (accuracy independent of load)."
    B, k = cand.batch, cand.micro
    step, graphdef, params, rest, opt = make_step(cand.build(seed), B, micro=k)
    sched = optax.warmup_cosine_decay_schedule(0.0, cand.lr, int(cand.warmup * steps), steps)
    ck, load0 = Clock("cpu"), os.getloadavg()
    for i in range(0, steps, k):
        lrs = jnp.asarray([sched(i + j) for j in range(k)], jnp.float32)
        params, rest, opt, loss, acc = ck.run(lambda: jax.block_until_ready(
            step(params, rest, opt, jnp.uint32(i * B), lrs if k > 1 else lrs[0])))
    mm = nnx.merge(graphdef, params, rest); mm.eval()
    fe = final_eval(mm, final_n)
    log(f"  {cand.name}: {steps} steps, {steps * B} images, wall {ck.wall:.0f} s, cpu {ck.cpu:.0f} s: test accuracy {fe['accuracy']:.4f}")
    return dict(candidate=dataclasses.asdict(cand), params=count_params(mm), steps=steps, images=steps * B,
                wall_seconds=round(ck.wall, 1), cpu_seconds=round(ck.cpu, 1), cpu_ms_per_image=round(1e3 * ck.cpu / (steps * B), 3),
                load_average_before=load0, load_average_after=os.getloadavg(), final_eval=fe)


def report(jsonls, out):
    """Merge the curve records of `jsonls` (the last, longest record of each run) into bench/results/`out` and draw
    test accuracy against training minutes, one line per candidate, to the same name with .png."""
    runs = {}
    for p in jsonls:
        for line in p.read_text().splitlines():
            r = json.loads(line)
            if "run_id" in r and len(r["points"]) >= len(runs.get(r["run_id"], {"points": []})["points"]): runs[r["run_id"]] = r
    runs = sorted(runs.values(), key=lambda r: -max(p["final_eval"]["accuracy"] for p in r["points"]))
    table = [dict(candidate=r["candidate"]["name"], params=r["params"], batch=r["candidate"]["batch"], micro=r["candidate"]["micro"],
                  lr=r["candidate"]["lr"], points=[dict(minutes=p["minutes"], accuracy=p["final_eval"]["accuracy"],
                  ci95=p["final_eval"]["accuracy_ci95"], images=p["images"], cpu_seconds=p["cpu_seconds"],
                  wall_seconds=p["wall_seconds"], cpu_ms_per_image=p["cpu_ms_per_image"]) for p in r["points"]]) for r in runs]
    for t in table:
        print(t["candidate"], " ".join(f"{p['minutes']:g}min:{p['accuracy']:.4f}" for p in t["points"]))
    import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for t in table:
        m = [p["minutes"] for p in t["points"]]; a = [100 * p["accuracy"] for p in t["points"]]
        lo = [100 * (p["accuracy"] - p["ci95"][0]) for p in t["points"]]; hi = [100 * (p["ci95"][1] - p["accuracy"]) for p in t["points"]]
        ax.errorbar(m, a, yerr=[lo, hi], marker="o", capsize=2, label=f"{t['candidate']} ({t['params']:,} params)")
    ax.axhline(95, color="gray", ls=":", lw=1)
    ax.set_xlabel("training minutes (process CPU seconds / 2 / 60: 2 fully used cores)")
    ax.set_ylabel("SineNet test accuracy, % (10,000 samples)"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
    fig.tight_layout(); RESULTS.mkdir(exist_ok=True); fig.savefig(RESULTS / Path(out).with_suffix(".png").name, dpi=120)
    write(out, dict(clock="process CPU time / 2 cores: one training minute = 120 CPU-seconds (2 fully used cores of a quiet machine)",
                    table=table, runs=runs, sources=[str(p) for p in jsonls], library_versions=versions()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--screen", action="store_true")
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--curves", action="store_true", help="accuracy after each of --minutes (the default without --steps)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--minutes", default=None, help="comma-separated training budgets, in minutes of --clock")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument("--schedule", choices=("wsd", "cosine"), default="wsd")
    ap.add_argument("--candidates", default=None)
    ap.add_argument("--final-n", type=int, default=10_000)
    ap.add_argument("--out", default=None, help="result file name in bench/results")
    ap.add_argument("--jsonl", default=None, help="append each run's record to this file as it finishes")
    ap.add_argument("--report", default=None, help="comma-separated .jsonl files of --curves runs: write --out and its figure")
    args = ap.parse_args()
    if args.report:
        report([Path(p) for p in args.report.split(",")], args.out or "cpu_model.json")
        return
    names = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    if args.throughput:
        rows = throughput(names)
        if args.out: write(args.out, dict(throughput=rows, library_versions=versions()))
        return
    runs = []
    for name in names:
        name, _, n_steps = name.partition(":")          # name:steps overrides --steps
        cand = CANDIDATES[name]
        if args.steps or n_steps:
            r = train_steps(cand, int(n_steps or args.steps), final_n=args.final_n)
        else:
            run_id = f"{name}-{time.time():.0f}"
            def on_point(rec):           # one line per evaluated budget: a killed run keeps its points
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(dict(rec, run_id=run_id, command=" ".join(["python3"] + sys.argv))) + "\n")
            r = train_ours(cand, [float(m) for m in args.minutes.split(",")], clock=args.clock, schedule=args.schedule,
                           final_n=args.final_n, on_point=on_point)
        runs.append(r)
        if args.jsonl and (args.steps or n_steps):
            with open(args.jsonl, "a") as f: f.write(json.dumps(r) + "\n")
    if args.out: write(args.out, dict(runs=runs, library_versions=versions()))


if __name__ == "__main__":
    main()
