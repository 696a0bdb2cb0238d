"""Run artifacts the report reads (predictions, Grad-CAM maps), downloaded once per process."""
from __future__ import annotations

from functools import lru_cache

import pandas as pd


@lru_cache(maxsize=512)
def load_predictions(tracking_uri: str, run_id: str) -> pd.DataFrame:
    """A run's per-ECG test predictions (`predictions.csv`): label columns, `score_*`, `oracle_*`."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="predictions.csv",
                                               tracking_uri=tracking_uri)
    return pd.read_csv(path, dtype={"ecg_id": str, "patient_id": str})


@lru_cache(maxsize=512)
def download_dir(tracking_uri: str, run_id: str, artifact_path: str) -> str:
    """Local copy of an artifact folder of a run (e.g. `gradcam`)."""
    import mlflow

    return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, tracking_uri=tracking_uri)
