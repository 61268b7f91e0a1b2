"""Pack a reproduction run folder into at most 8 small files (what a lent machine can send back), and unpack them.

    python bench/pack.py RUN_DIR OUTDIR          # results.json, report.md, records.zip, weights/NAME/... beside log.txt
    python bench/pack.py --unpack OUTDIR RUN_DIR  # a run folder again: `squiggles reproduce --out RUN_DIR --report-only`

records.zip holds run.json and records/*.npz; the weights of the first model named in the preset's `weights` are
copied as they are (a manifest and parts under 14 MiB each, with their sha256)."""
import json, shutil, sys, zipfile
from pathlib import Path

LIMIT_FILES, LIMIT_BYTES = 8, 16 * 2 ** 20


def pack(run: Path, out: Path):
    out.mkdir(parents=True, exist_ok=True)
    for name in ("results.json", "report.md"):
        if (run / name).exists(): shutil.copy(run / name, out / name)
    with zipfile.ZipFile(out / "records.zip", "w", zipfile.ZIP_DEFLATED) as z:
        if (run / "run.json").exists(): z.write(run / "run.json", "run.json")
        for f in sorted((run / "records").glob("*.npz")): z.write(f, f"records/{f.name}")
    files = [f for f in out.rglob("*") if f.is_file()]
    for folder in sorted((run / "weights").glob("*")) if (run / "weights").exists() else []:
        parts = sorted(folder.iterdir())
        if len(files) + len(parts) > LIMIT_FILES: print(f"weights of {folder.name}: no room ({len(parts)} files)"); continue
        shutil.copytree(folder, out / "weights" / folder.name, dirs_exist_ok=True); files += parts
    files = [f for f in out.rglob("*") if f.is_file()]
    big = [f for f in files if f.stat().st_size > LIMIT_BYTES]
    print(f"packed {len(files)} files into {out}" + (f"; over {LIMIT_BYTES} bytes: {big}" if big else ""))
    if len(files) > LIMIT_FILES or big: sys.exit(f"{out} holds more than {LIMIT_FILES} files or files over 16 MiB")


def unpack(out: Path, run: Path):
    run.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out / "records.zip") as z:
        for m in z.namelist():
            if m.startswith("/") or ".." in Path(m).parts: sys.exit(f"records.zip: unsafe member {m!r}")
        z.extractall(run)
    if (out / "weights").exists(): shutil.copytree(out / "weights", run / "weights", dirs_exist_ok=True)
    print(f"unpacked {out} into {run}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--unpack": unpack(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 3: pack(Path(sys.argv[1]), Path(sys.argv[2]))
    else: sys.exit(__doc__)
