"""The cell's MLflow run as the runner's stages see it (bench/harness/runner.py): metrics gathered over the stages
and logged once at the end (one batched call instead of one per metric), artifacts written to a staging folder and
logged in one call at the end, tags and params as they come."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class RunLog:
    """The cell's MLflow run as the stages see it: `metrics` gathered over the stages (logged once, at the end),
    artifacts staged in `tmp` (logged once, at the end), tags and params logged as they come."""

    client: object
    run_id: str
    tmp: Path
    metrics: dict[str, float] = field(default_factory=dict)

    def tags(self, tags: dict[str, str]) -> None:
        from bench.harness import tracking

        tracking.set_tags(self.client, self.run_id, tags)

    def params(self, params: dict) -> None:
        from bench.harness import tracking

        tracking.log_params(self.client, self.run_id, params)

    def series(self, triples: list[tuple[str, float, int]]) -> None:
        """Per-epoch metrics, (name, value, step)."""
        from bench.harness import tracking

        tracking.log_metrics(self.client, self.run_id, triples)

    @contextmanager
    def timed(self, key: str):
        """Add the block's wall seconds to the metric `key` (e.g. `compute/infer_s` over every inference pass)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.metrics[key] = self.metrics.get(key, 0.0) + time.perf_counter() - t0

    def flush(self) -> None:
        from bench.harness import tracking

        tracking.log_metrics(self.client, self.run_id, self.metrics)

    def frame(self, name: str, frame: pd.DataFrame, folder: str | None = None) -> None:
        frame.to_csv(self.path(name, folder), index=False)

    def json(self, name: str, obj) -> None:
        self.path(name).write_text(json.dumps(obj))

    def path(self, name: str, folder: str | None = None) -> Path:
        """Where a stage writes the artifact `folder/name`: the run's staging folder, logged whole by
        `flush_artifacts`."""
        d = self.tmp / (folder or "")
        d.mkdir(parents=True, exist_ok=True)
        return d / name

    def flush_artifacts(self) -> None:
        """Log every artifact the stages wrote, in one call (one call per artifact cost ~10 ms each in a cell's
        overhead). The runner calls it whether the cell finished or failed, so a failed cell keeps what it wrote."""
        if any(self.tmp.iterdir()):
            self.client.log_artifacts(self.run_id, str(self.tmp))
