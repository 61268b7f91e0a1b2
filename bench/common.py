"""Shared helpers for the benchmarks: provenance of a result file and a robust timer."""
import json, os, platform, sys, time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def provenance():
    import jax, numpy, shapely, squiggles_nb
    devs = jax.devices()
    return dict(command=" ".join([Path(sys.executable).name] + sys.argv), date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                device=dict(backend=jax.default_backend(), kinds=sorted({d.device_kind for d in devs}), count=len(devs),
                            cpu_count=os.cpu_count(), platform=platform.platform(), processor=platform.processor()),
                versions=dict(squiggles_nb=squiggles_nb.__version__, jax=jax.__version__, numpy=numpy.__version__,
                              shapely=shapely.__version__, geos=shapely.geos_version_string, python=platform.python_version()),
                load_average=os.getloadavg())


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
