"""MLflow tracking: one run per grid cell, found again by its `cell_key` tag.

Default store: SQLite at `<results>/mlflow.db`, artifacts under `<results>/mlruns` (MLflow refuses the plain file
store). Everything goes through `MlflowClient` with explicit run ids and batched logging (one HTTP call per batch
against a tracking server instead of one per value). A tracking URI with credentials in it is refused: they come
from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), never from a grid, a
command line or a logged value.

Cell leases (`CellLeases`): a `run` holds an exclusive `flock` on `<results>/leases/<cell_key>.lease` for each
cell it is about to run, so two `run`s on one results folder never train a cell twice, and a RUNNING run is only
closed by a process that holds its cell's lease: the kernel drops a lock when its holder dies, so a free lease
proves the run's owner is gone (no pid guessing, no heartbeat to tune).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from bench.base.errors import TrackingError

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from bench.harness import paths  # noqa: E402

MAX_BATCH = 900  # MLflow's log_batch limit is 1000 metrics per call
CONFIG_ARTIFACT = "config.json"


def default_tracking_uri(results_dir: str | os.PathLike) -> str:
    """The default store of a results folder (bench.harness.paths decides)."""
    return paths.tracking_uri_for(results_dir)


def is_local_store(uri: str) -> bool:
    return uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri


def check_tracking_uri(uri: str) -> str:
    """`uri` unchanged, or TrackingError when it carries credentials (`http://user:pass@host`): they would be kept
    in shell history, grid files and logs. The message names the URI without them."""
    parts = urlsplit(uri)
    if parts.username is not None or parts.password is not None:
        bare = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()
        raise TrackingError(f"tracking URI {bare}: credentials in the URI are refused; use --tracking-uri {bare} "
                            "and put them in the environment (MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
                            "or MLFLOW_TRACKING_TOKEN)")
    return uri


def client_for(uri: str) -> MlflowClient:
    """A client for `uri` (refused if it carries credentials). For a SQLite store, opening it runs MLflow's schema
    migrations; two processes opening a new store at once (`run` starting while `list` or a test polls it) would
    both migrate and one would crash, so the opening is serialised with an exclusive lock file beside the
    database."""
    check_tracking_uri(uri)
    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return MlflowClient(tracking_uri=uri)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | None = None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_root)
    except Exception:  # noqa: BLE001 - another process created it between the two calls
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def runs_by_key(client: MlflowClient, experiment_id: str) -> dict[str, list]:
    """cell_key -> runs (newest first) in the experiment."""
    out: dict[str, list] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token,
                                  order_by=["attributes.start_time DESC"])
        for r in page:
            k = r.data.tags.get("cell_key")
            if k:
                out.setdefault(k, []).append(r)
        token = page.token
        if not token:
            return out


def cell_status(runs: list | None) -> str:
    """done if any run FINISHED, failed if the newest ended FAILED, running/pending otherwise."""
    if not runs:
        return "pending"
    if any(r.info.status == "FINISHED" for r in runs):
        return "done"
    if runs[0].info.status == "FAILED":
        return "failed"
    return "pending"


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Params as JSON text (`false`, `"raw"`, `0.0003`, `[0, 1]`), so the report reads each value back with
    `json.loads` as it was (bench.report.runs.param_value), not as Python's `str()` of it."""
    items = [Param(k, json.dumps(v, default=str)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100])


def log_config(client: MlflowClient, run_id: str, cell) -> None:
    """A cell's resolved config: whole and nested as the `config.json` artifact, and as flat dotted params (JSON
    values) for the MLflow UI's columns and filters."""
    client.log_dict(run_id, cell.config(), CONFIG_ARTIFACT)
    log_params(client, run_id, cell.flat_params())


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float] | Iterable[tuple[str, float, int]],
                step: int = 0) -> None:
    """Log {name: value} at `step`, or (name, value, step) triples, in batches; NaN/None values are skipped."""
    now = int(time.time() * 1000)
    triples = metrics.items() if isinstance(metrics, dict) else metrics
    items = []
    for t in triples:
        name, value, s = (t[0], t[1], step) if len(t) == 2 else t
        if value is None:
            continue
        v = float(value)
        if v != v:  # NaN: the metric is undefined here (e.g. one class); absent, not fake
            continue
        items.append(Metric(name, v, now, int(s)))
    for i in range(0, len(items), MAX_BATCH):
        client.log_batch(run_id, metrics=items[i:i + MAX_BATCH])


class CellLeases:
    """Exclusive per-cell leases of one results folder, held by this process until released or until it dies."""

    def __init__(self, results_dir: str | os.PathLike):
        self.dir = Path(results_dir) / "leases"
        self._held: dict[str, object] = {}

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.lease"

    def acquire(self, key: str, label: str) -> str | None:
        """Take the lease of cell `key`: None when taken, else who holds it (host, pid, cell, since when)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.path(key), "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            return holder
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}, cell {label}, since "
                 f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        fh.flush()
        self._held[key] = fh
        return None

    def release(self, key: str) -> None:
        fh = self._held.pop(key, None)
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def release_all(self) -> None:
        for key in list(self._held):
            self.release(key)
