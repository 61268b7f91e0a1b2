"""Shared helpers for the benchmarks: provenance of a result file and a robust timer."""
import json, os, platform, sys, time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def provenance():
    "How a result file was made: the library's provenance, the bench command and the machine's load."
    from squiggles_nb.records import provenance as library_provenance
    return library_provenance(command=" ".join([Path(sys.executable).name] + sys.argv), load_average=os.getloadavg(),
                              cpu_count=os.cpu_count(), processor=platform.processor())


def write(name, payload):
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(dict(provenance=provenance(), **payload), indent=1) + "\n")
    print(f"wrote {out}")
    return out


def best_rate(fn, n_items, repeats=3):
    "Items per second of fn() (which must block until done), best of `repeats` runs after one warm-up."
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return n_items / best
