"""The runs of one experiment as the reports see them (`RunSet`), and how a logged param reads back."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

AXES = ["task", "representation", "model"]


@dataclass
class RunSet:
    """`runs`: finished cells, columns `run_id`, task, representation, model, seed, task_name, rep_name, rep_kind,
    model_name, depth, width, primary, plus MLflow's `metrics.*`, `params.*`, `tags.*`.
    `cells`: every expected cell with `status` (FINISHED, FAILED, KILLED, RUNNING, missing) and `reason`."""

    experiment: str
    tracking_uri: str
    runs: pd.DataFrame
    cells: pd.DataFrame
    #: Per task, the training sizes the grid asks for (`[split] train_sizes`; the report's `--grid`), so a
    #: learning curve shows those and not the sizes of older runs in the same experiment; None: the runs decide.
    train_sizes: dict[str, list[int]] | None = None

    def metric(self, name: str) -> str:
        return f"metrics.{name}"

    @property
    def tasks(self) -> list[str]:
        return sorted(self.cells["task"].unique())

    def pairs(self, task: str) -> list[tuple[str, str]]:
        c = self.cells[self.cells["task"] == task]
        return sorted(set(zip(c["representation"], c["model"])))

    def n_expected_seeds(self, task: str, representation: str, model: str) -> int:
        c = self.cells
        return int(((c["task"] == task) & (c["representation"] == representation) & (c["model"] == model)).sum())

    def primary(self, task: str) -> str:
        row = self.cells[self.cells["task"] == task].iloc[0]
        return str(row["primary"])


#: How runs logged before params were JSON wrote booleans and None (Python's `str()`).
_LEGACY_TEXT = {"True": True, "False": False, "None": None}


def param_value(text):
    """A logged param's value: params are JSON text (bench.harness.tracking.log_params), so `false` comes back as
    False and `"raw"` as 'raw'. Text that is not JSON is from a run logged before that (`str()` of the value):
    True/False/None map back; anything else stays the text it is."""
    if not isinstance(text, str):
        return text  # absent (NaN/None) in this run
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return _LEGACY_TEXT.get(text, text)
