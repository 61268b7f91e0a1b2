"""Collect every notebook in `nbs/` as a pytest test.

Each notebook is executed top to bottom with nbdev's own runner (`nbdev.test.test_nb`), exactly as
`nbdev_test` would, so `pytest nbs` and `nbdev_test` test the same cells. Cells flagged with one of the
`tst_flags` of settings.ini (`slow`, `gpu`) are skipped unless named in the environment variable
`SQUIGGLES_TEST_FLAGS`, e.g. `SQUIGGLES_TEST_FLAGS="slow" pytest nbs`.

As with `nbdev_test`, every notebook runs in a process of its own (`python3 conftest.py NOTEBOOK`): no notebook sees
another's state, and a notebook that crashes the interpreter fails alone, with its traceback. The selected notebooks
start together on `SQUIGGLES_TEST_WORKERS` processes (default: 2, or 1 on a one-core machine), the longest first; each
test waits for its own notebook. The processes of one session share a JAX compilation cache in a temporary folder
(`JAX_COMPILATION_CACHE_DIR`, unless set already), so a program that several notebooks compile (a toy model's training
step, an attack on it) is compiled once; and the experiments notebook works on the toy run that the reproduce notebook
made just before it in the same process slot (`SQUIGGLES_TOY_RUN`: its finished steps are skipped, as on any resume).

With `SQUIGGLES_SAVE_OUTPUTS=1`, a notebook that passes is written back with the outputs of this run (printed checks and
figures), so that the docs, which nbdev renders from saved outputs, show them: `SQUIGGLES_SAVE_OUTPUTS=1 pytest nbs && nbdev_clean`.
"""
import os, sys, time, shutil, signal, tempfile, contextlib, subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

SAVE_OUTPUTS = os.environ.get("SQUIGGLES_SAVE_OUTPUTS") == "1"
# Minutes each notebook takes alone on a 2-core CPU (about): the pool starts the longest first, so that none is left alone at the end.
MINUTES = {"12_reproduce": 8.0, "05_train": 4.5, "10_steps": 3.3, "07_boundary": 2.5, "13_cli": 2.4, "02_labeler": 2.0,
           "11_experiments": 1.5, "06_attacks": 1.5, "03_data": 1.5, "08_isoperimetric": 1.2, "index": 1.1, "04_model": 1.0}
# Notebooks run one after the other in one process slot, in this order: the experiments notebook resumes the toy run of
# the reproduce notebook, which makes it from scratch.
CHAINS = (("12_reproduce", "11_experiments"),)


def run_notebook(path):
    "Run one notebook with nbdev's runner (skipping the flagged cells) and, with SQUIGGLES_SAVE_OUTPUTS=1, save its outputs."
    from nbdev.config import get_config
    from nbdev.test import test_nb
    cfg = get_config()
    skip = cfg.tst_flags.split("|") if cfg.tst_flags else []
    force = os.environ.get("SQUIGGLES_TEST_FLAGS", "").split()
    ran = []
    with (_capture_runs(ran) if SAVE_OUTPUTS else contextlib.nullcontext()):
        ok, secs = test_nb(Path(path), skip_flags=skip, force_flags=force, showerr=True)
    if ok and ran: _save_outputs(Path(path), ran[-1])
    return ok


@contextlib.contextmanager
def _capture_runs(ran):
    "Record the notebook object that execnb's `CaptureShell.run_all` executes (it holds the outputs afterwards)."
    from execnb.shell import CaptureShell
    run_all = CaptureShell.run_all
    def recording(self, nb, *args, **kwargs):
        ran.append(nb)
        return run_all(self, nb, *args, **kwargs)
    CaptureShell.run_all = recording
    try: yield
    finally: CaptureShell.run_all = run_all


def _save_outputs(path, executed):
    "Copy the outputs of the executed cells onto the notebook file's own cells (matched by cell id; skipped cells keep none)."
    from execnb.nbio import read_nb, write_nb
    outs = {c.get("id"): c for c in executed.cells if c.cell_type == "code"}
    nb = read_nb(path)
    for c in nb.cells:
        if c.cell_type != "code": continue
        ran = outs.get(c.get("id"))
        c["outputs"] = list(ran.get("outputs", [])) if ran is not None else []
        c["execution_count"] = ran.get("execution_count") if ran is not None else None
    write_nb(nb, path)


if __name__ == "__main__":                      # the child process: python3 conftest.py NOTEBOOK
    import faulthandler
    faulthandler.enable()                       # a crash prints every thread's stack before the process dies
    sys.exit(0 if run_notebook(sys.argv[1]) else 1)


import pytest                                    # the parent: pytest's collection and the pool of notebook processes


def _workers():
    n = os.environ.get("SQUIGGLES_TEST_WORKERS")
    if n is None: return 2 if (os.cpu_count() or 1) > 1 else 1
    if not n.isdigit() or int(n) < 1: raise pytest.UsageError(f"SQUIGGLES_TEST_WORKERS must be a positive integer, got {n!r}")
    return int(n)


def _run_child(path):
    "Run `path` in a fresh interpreter; returns (exit status, seconds, everything it printed)."
    t = time.perf_counter()
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(path)], cwd=path.parent,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    return p.returncode, time.perf_counter() - t, p.stdout


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".ipynb" and not file_path.name.startswith(("_", ".")):
        return NotebookFile.from_parent(parent, path=file_path)


def pytest_sessionstart(session):
    _workers()                                  # a bad SQUIGGLES_TEST_WORKERS is refused before any notebook starts
    tmp = Path(tempfile.mkdtemp(prefix="squiggles-tests-"))
    session.config.stash[_POOL] = {"tmp": tmp}
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(tmp / "jax-cache"))     # the children inherit these
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    os.environ["SQUIGGLES_TOY_RUN"] = str(tmp / "toy")


def pytest_sessionfinish(session):
    state = session.config.stash.get(_POOL, {})
    if state.get("executor") is not None: state["executor"].shutdown(wait=True, cancel_futures=True)
    if state.get("tmp") is not None: shutil.rmtree(state["tmp"], ignore_errors=True)


_POOL = pytest.StashKey[dict]()


def _run_group(group, futures):
    "Run the notebooks of `group` one after the other, each setting its own future."
    for item in group:
        try: futures[item.nodeid].set_result(_run_child(item.path))
        except BaseException as e: futures[item.nodeid].set_exception(e)


def _future(item):
    "Start every selected notebook on first use (chains together, the longest first), then return this item's future."
    state = item.config.stash[_POOL]
    if "futures" not in state:
        items = {i.path.stem: i for i in item.session.items if isinstance(i, NotebookItem)}
        groups = [[items[n] for n in chain if n in items] for chain in CHAINS]
        chained = {i.path.stem for g in groups for i in g}
        groups = [g for g in groups if g] + [[i] for n, i in items.items() if n not in chained]
        groups.sort(key=lambda g: -sum(MINUTES.get(i.path.stem, 0.5) for i in g))
        state["futures"] = futures = {i.nodeid: Future() for i in items.values()}
        state["executor"] = pool = ThreadPoolExecutor(max_workers=_workers())
        for g in groups: pool.submit(_run_group, g, futures)
    return state["futures"][item.nodeid]


class NotebookFile(pytest.File):
    def collect(self):
        yield NotebookItem.from_parent(self, name=self.path.stem)


class NotebookError(Exception):
    pass


class NotebookItem(pytest.Item):
    def runtest(self):
        code, secs, out = _future(self).result()
        self.user_properties.append(("seconds", round(secs, 1)))
        if code == 0: return
        what = (f"crashed ({signal.Signals(-code).name})" if code < 0 and -code in signal.Signals._value2member_map_
                else f"failed (exit status {code})")
        raise NotebookError(f"{what} after {secs:.0f} s; its output:\n{out[-20_000:]}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, NotebookError):
            return f"notebook {self.path.name} {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"notebook: {self.path.name}"


def pytest_terminal_summary(terminalreporter):
    "Each notebook's own seconds (its process's wall time), the slowest first."
    rows = [(r.nodeid, dict(r.user_properties).get("seconds")) for k in ("passed", "failed")
            for r in terminalreporter.stats.get(k, []) if r.when == "call"]
    rows = sorted((r for r in rows if r[1] is not None), key=lambda r: -r[1])
    if rows:
        terminalreporter.write_sep("-", f"notebook seconds ({_workers()} at a time)")
        for nodeid, secs in rows: terminalreporter.write_line(f"{secs:8.1f}  {nodeid}")
