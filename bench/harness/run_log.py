"""The cell's MLflow run as the runner's stages see it (bench/harness/runner.py): metrics gathered over the stages
and logged once at the end (one batched call instead of one per metric), tags, params and artifacts as they come."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class RunLog:
    """The cell's MLflow run as the stages see it: `metrics` gathered over the stages (logged once, at the end),
    tags, params and artifacts logged as they come."""

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

    def flush(self) -> None:
        from bench.harness import tracking

        tracking.log_metrics(self.client, self.run_id, self.metrics)

    def frame(self, name: str, frame: pd.DataFrame, folder: str | None = None) -> None:
        self._artifact(name, lambda p: frame.to_csv(p, index=False), folder)

    def json(self, name: str, obj) -> None:
        self._artifact(name, lambda p: p.write_text(json.dumps(obj)))

    def file(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def _artifact(self, name: str, write, folder: str | None = None) -> None:
        d = self.tmp / (folder or "")
        d.mkdir(parents=True, exist_ok=True)
        write(d / name)
        self.client.log_artifact(self.run_id, str(d / name), folder)
