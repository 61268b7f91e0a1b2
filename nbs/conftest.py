"""Collect every notebook in `nbs/` as a pytest test.

Each notebook is executed top to bottom with nbdev's own runner (`nbdev.test.test_nb`), exactly as
`nbdev_test` would, so `pytest nbs` and `nbdev_test` test the same cells. Cells flagged with one of the
`tst_flags` of settings.ini (`slow`, `gpu`) are skipped unless named in the environment variable
`SQUIGGLES_TEST_FLAGS`, e.g. `SQUIGGLES_TEST_FLAGS="slow" pytest nbs`.
"""
import io, os, contextlib
from pathlib import Path
import pytest


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
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            ok, secs = test_nb(Path(self.path), skip_flags=skip, force_flags=force, showerr=True)
        if not ok:
            raise NotebookError(err.getvalue())

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, NotebookError):
            return f"notebook {self.path.name} failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"notebook: {self.path.name}"
