"""`synthetic:N[,seed=S][,<SimConfig field>=value...]`: the simulated cohort of N patients (1-4 ECGs each).

Files are generated once into the cache (`<cache>/synthetic/<version>_n<N>_s<S>_<config hash>/`), under a lock so
concurrent runs generate a cohort once, then loaded through the same folder path as any user folder, so simulated
ECGs go through the real readers. A disk that fills during generation is a `DiskFullError` naming the folder.
Options named like a `SimConfig` field override it (e.g. `synthetic:2000,seed=1,af_5y_incidence=0.05`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

from bench.base.cohort import Cohort, register_source
from bench.base.errors import CohortError
from bench.base.storage import locked, raise_if_disk_full
from bench.data.simulator.config import SIM_VERSION, SimConfig
from bench.data.sources.common import cache_root
from bench.data.sources.folder import load_folder


def config_from_options(opts: dict[str, str], where: str) -> SimConfig:
    fields = {f.name: f for f in dataclasses.fields(SimConfig)}
    unknown = [k for k in opts if k not in fields]
    if unknown:
        raise CohortError(f"{where}: unknown option(s) {', '.join(unknown)} (known: seed, {', '.join(fields)})")
    kw = {}
    for k, v in opts.items():
        default = getattr(SimConfig(), k)
        try:
            if isinstance(default, bool):  # bool("0") is True: spell the accepted values out
                if v.lower() not in {"1", "0", "true", "false"}:
                    raise ValueError(v)
                kw[k] = v.lower() in {"1", "true"}
            else:
                kw[k] = tuple(float(x) for x in v.split("/")) if isinstance(default, tuple) else type(default)(v)
        except ValueError as e:
            raise CohortError(f"{where}: option {k}={v!r} is not a {type(default).__name__}") from e
    return SimConfig(**kw)


def synthetic_folder(n_patients: int, seed: int, cfg: SimConfig, cache_dir=None, workers: int | None = None) -> Path:
    """The generated folder in the cache (generated now if absent)."""
    from bench.data.simulator.files import write_cohort

    tag = hashlib.sha256(repr(cfg).encode()).hexdigest()[:8]
    out = cache_root(cache_dir) / "synthetic" / f"v{SIM_VERSION}_n{n_patients}_s{seed}_{tag}"
    if (out / "labels.csv").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with locked(out.with_name(f".{out.name}.lock")):
        if (out / "labels.csv").is_file():  # another process generated it while we waited
            return out
        for stale in out.parent.glob(f"{out.name}.tmp*"):  # a dead generation's: a live one would hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        try:
            write_cohort(tmp, n_patients, seed, cfg, workers=workers or min(2, os.cpu_count() or 1))
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise_if_disk_full(e, tmp)
            raise
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    return out


@register_source("synthetic")
def synthetic_source(arg: str, *, seed: str = "0", cache_dir=None, **opts) -> Cohort:
    """Physiological dipole simulator with planted markers and an oracle (bench.data.simulator)."""
    spec = f"synthetic:{arg}" + (f",seed={seed}" if seed != "0" else "")
    try:
        n, s = int(arg), int(seed)
    except ValueError:
        raise CohortError(f"{spec}: N and seed must be integers (synthetic:N[,seed=S])") from None
    if n < 1:
        raise CohortError(f"{spec}: N must be >= 1 patients")
    cfg = config_from_options(opts, spec)
    spec += "".join(f",{k}={v}" for k, v in sorted(opts.items()))
    folder = synthetic_folder(n, s, cfg, cache_dir)
    return load_folder(folder, folder / "labels.csv", spec, cache_dir)
