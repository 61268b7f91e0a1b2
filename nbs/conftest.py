"""Collect every notebook in `nbs/` as a pytest test.

Each notebook is executed top to bottom with nbdev's own runner (`nbdev.test.test_nb`), exactly as
`nbdev_test` would, so `pytest nbs` and `nbdev_test` test the same cells. Cells flagged with one of the
`tst_flags` of settings.ini (`slow`, `gpu`) are skipped unless named in the environment variable
`SQUIGGLES_TEST_FLAGS`, e.g. `SQUIGGLES_TEST_FLAGS="slow" pytest nbs`.

With `SQUIGGLES_SAVE_OUTPUTS=1`, a notebook that passes is written back with the outputs of this run (printed checks and
figures), so that the docs, which nbdev renders from saved outputs, show them: `SQUIGGLES_SAVE_OUTPUTS=1 pytest nbs && nbdev_clean`.
"""
import io, os, contextlib
from pathlib import Path
import pytest

SAVE_OUTPUTS = os.environ.get("SQUIGGLES_SAVE_OUTPUTS") == "1"


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".ipynb" and not file_path.name.startswith(("_", ".")):
        return NotebookFile.from_parent(parent, path=file_path)


class NotebookFile(pytest.File):
    def collect(self):
        yield NotebookItem.from_parent(self, name=self.path.stem)


class NotebookError(Exception):
    pass


class NotebookItem(pytest.Item):
    def runtest(self):
        from nbdev.config import get_config
        from nbdev.test import test_nb
        cfg = get_config()
        skip = cfg.tst_flags.split("|") if cfg.tst_flags else []
        force = os.environ.get("SQUIGGLES_TEST_FLAGS", "").split()
        err, ran = io.StringIO(), []
        with contextlib.redirect_stderr(err), (_capture_runs(ran) if SAVE_OUTPUTS else contextlib.nullcontext()):
            ok, secs = test_nb(Path(self.path), skip_flags=skip, force_flags=force, showerr=True)
        if not ok:
            raise NotebookError(err.getvalue())
        if ran: _save_outputs(Path(self.path), ran[-1])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, NotebookError):
            return f"notebook {self.path.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"notebook: {self.path.name}"


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
