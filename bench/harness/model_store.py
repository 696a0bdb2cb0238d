"""A finished cell's data and model in MLflow: its cohort splits as dataset inputs, its trained model as one
loadable MLflow model.

Datasets: each split is one MLflow dataset input of the run, named by the cohort's source spec, with the context
tag `training` / `validation` / `test` (or `external`), so the UI's Dataset column and `search_runs` on
`datasets.name` / `datasets.context` work. MLflow keeps one input per (name, digest) and run, so the digest hashes
the cohort's data fingerprint with the split's ECG ids (the fingerprint itself is in `source` and `profile`), and
the profile holds the split's counts.

Model: a pyfunc (`BenchModel`, saved as MLflow "models from code": its code is this package, installed) holding
the fitted representation (PCA, scalers: whatever `transform` needs, pickled), the trained network at its best
validation epoch (the whole `nn.Module`, `torch.save`d, so loading never rebuilds it or looks for pretrained
weights) and the task's output decoding (`Task.predict`, rebuilt from the task's name and params).
`mlflow.pyfunc.load_model("runs:/<run id>/model").predict(x)` takes standardised signals `x` (n, 12, 5000) float32
mV and returns one row per ECG with the task's score columns, the columns the run's `predictions.csv` holds as
`score_*`. The runner logs through `MlflowClient` with explicit run ids, so the model is
registered as an MLflow 3 LoggedModel by hand (what `mlflow.pyfunc.log_model(..., run_id=...)` does through the
global tracking URI): created with `source_run_id`, saved with `mlflow.pyfunc.save_model`, its files uploaded with
`log_model_artifacts`, linked to the run as an output (the UI's Models column) and finalised READY. Loading needs
this package installed (its version is in the model's metadata and requirements).
"""
from __future__ import annotations

import functools
import hashlib
import json
import pickle
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import mlflow.pyfunc

import bench
from bench.base.signal import N_SAMPLES, STANDARD_LEADS

MODEL_NAME = "model"  # the LoggedModel's name: `runs:/<run id>/model` resolves to it
CONTEXTS = ("training", "validation", "test", "external")
SPLIT_CONTEXTS = {"train": "training", "val": "validation", "test": "test"}
SOURCE_TYPE = "ecg-repbench"
_CELL, _REPRESENTATION, _NETWORK, _ENTRY = "cell.json", "representation.pkl", "network.pt", "bench_model.py"
#: MLflow "models from code" entry: the model's code is this package (installed), not a pickled Python object
_ENTRY_CODE = """import mlflow.models
from bench.harness.model_store import BenchModel
mlflow.models.set_model(BenchModel())
"""


def signal_schema():
    """The input every model takes: standardised signals (n, 12, 5000) float32 mV."""
    from mlflow.types import Schema, TensorSpec

    return Schema([TensorSpec(np.dtype(np.float32), (-1, len(STANDARD_LEADS), N_SAMPLES))])


# -- datasets ---------------------------------------------------------------------------------------------------
def log_dataset_inputs(client, run_id: str, source: str, fingerprint: str, parts: dict[str, pd.DataFrame]) -> None:
    """Log `parts` ({context: records with ecg_id and patient_id}) as dataset inputs of the run, all from the cohort
    `source` (its spec) with data fingerprint `fingerprint`."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    schema = json.dumps({"mlflow_tensorspec": {"features": signal_schema().to_json(), "targets": None}})
    inputs = []
    for context, records in parts.items():
        if context not in CONTEXTS:
            raise ValueError(f"dataset context {context!r}: must be one of {CONTEXTS}")
        ids = sorted(records["ecg_id"].astype(str))
        digest = hashlib.sha256(json.dumps([fingerprint, ids]).encode()).hexdigest()[:16]
        profile = {"ecgs": len(records), "patients": int(records["patient_id"].astype(str).nunique()),
                   "cohort_fingerprint": fingerprint}
        ds = Dataset(name=source, digest=digest, source_type=SOURCE_TYPE,
                     source=json.dumps({"spec": source, "fingerprint": fingerprint}), schema=schema,
                     profile=json.dumps(profile))
        inputs.append(DatasetInput(ds, [InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    client.log_inputs(run_id, datasets=inputs)


def log_datasets(client, run_id: str, cohort, parts: dict) -> None:
    """The cell's training / validation / test parts (`bench.harness.splits.Part`s keyed train / val / test) as
    dataset inputs of the run."""
    log_dataset_inputs(client, run_id, cohort.source, cohort.fingerprint,
                       {context: parts[part].records for part, context in SPLIT_CONTEXTS.items()})


# -- the model --------------------------------------------------------------------------------------------------
class BenchModel(mlflow.pyfunc.PythonModel):
    """Standardised signals -> fitted representation -> trained network -> the task's score columns.

    Params at predict time: `device` ("cpu", "cuda" or "auto"; default cpu) and `batch_size` (default 64)."""

    def load_context(self, context) -> None:
        import torch

        from tasks import TASKS

        self.spec = json.loads(Path(context.artifacts["cell"]).read_text())  # what the model is, for its users
        self.task = TASKS.get(self.spec["task"]["name"])(**self.spec["task"]["params"])
        with open(context.artifacts["representation"], "rb") as f:
            self.representation = pickle.load(f)
        self.network = torch.load(context.artifacts["network"], map_location="cpu", weights_only=False).eval()

    def predict(self, context, model_input: np.ndarray, params: dict | None = None) -> pd.DataFrame:
        from bench.harness.compute import resolve_device
        from bench.harness.train import predict_outputs

        params = params or {}
        device = resolve_device(str(params.get("device") or "cpu"))
        batch = int(params.get("batch_size") or 64)
        x = np.asarray(model_input, dtype=np.float32)  # shape and dtype were checked against the signature
        self.network.to(device)
        chunks: dict[str, list[np.ndarray]] = {}
        for i in range(0, len(x), batch):  # a batch of images at 1024 px is 2.4 MB an ECG: transform per batch
            features = np.asarray(self.representation.transform(x[i:i + batch]))
            for head, out in predict_outputs(self.network, features, np.arange(len(features)), device,
                                             batch).items():
                chunks.setdefault(head, []).append(out)
        outputs = {head: np.concatenate(v) for head, v in chunks.items()} if chunks else \
            {head: np.zeros((0, units), np.float32) for head, units in self.task.heads.items()}
        return pd.DataFrame(self.task.predict(outputs))


def _model_signature(task):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    columns = task.predict({head: np.zeros((1, units), np.float32) for head, units in task.heads.items()})
    return ModelSignature(inputs=signal_schema(), outputs=Schema([ColSpec("double", c) for c in columns]),
                          params=ParamSchema([ParamSpec("device", "string", "cpu"),
                                              ParamSpec("batch_size", "long", 64)]))


@functools.cache
def warm_up() -> None:
    """Do once what MLflow does the first time a process saves a model: map every installed distribution to its
    modules to check the model's requirements against the environment (~2.5 s on 2 cores, then cached by MLflow).
    The grid's preparation calls it, so the first cell of a `bench run` is not charged for it."""
    from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

    warn_dependency_requirement_mismatches(list(_requirements()))


def _requirements() -> tuple[str, ...]:
    """What loading needs, pinned to what trained the model: this package (which brings the rest), and the
    libraries whose objects are pickled in the model (torch and timm modules, scikit-learn PCA and scalers, numpy
    arrays). Given explicitly because MLflow's inference imports the model in a subprocess (seconds per cell), and
    kept short because MLflow checks each one against the environment on every save."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("ecg-repbench", "torch", "timm", "scikit-learn", "numpy", "mlflow"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:  # e.g. run from a source checkout that was never pip-installed
            continue
    return tuple(out)


def ensure_fitted(representation, cohort, train_rows: np.ndarray) -> None:
    """Fit a data-fitted representation that a cache hit left unfitted (entries cached before the cache kept the
    fitted state), on the training rows in the order the cache fits them."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not getattr(representation, "fits_data", False):
        return
    try:
        check_is_fitted(representation)
    except NotFittedError:
        representation.fit(cohort.signals[np.sort(np.asarray(train_rows, dtype=np.int64))])


def save_model(path: Path, cell, task, representation, network, mlflow_model=None) -> None:
    """Write the cell's pyfunc model to the folder `path` (as `mlflow.pyfunc.save_model` does)."""
    import torch

    spec = {"task": {"name": task.name, "params": task.get_params()},
            "representation": {"name": representation.name, "params": representation.get_params()},
            "model": {"name": cell.model.name, "params": dict(cell.model.params)},
            "cell": cell.label, "ecg_repbench": bench.__version__}
    with tempfile.TemporaryDirectory(prefix="bench-model-files-") as tmp:
        files = Path(tmp)
        (files / _CELL).write_text(json.dumps(spec, indent=1, default=str))
        with open(files / _REPRESENTATION, "wb") as f:
            pickle.dump(representation, f, protocol=pickle.HIGHEST_PROTOCOL)
        torch.save(network, files / _NETWORK)
        (files / _ENTRY).write_text(_ENTRY_CODE)
        with warnings.catch_warnings():  # an example (n, 12, 5000) input would be 60,000 numbers of JSON
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            mlflow.pyfunc.save_model(
                path, python_model=str(files / _ENTRY), mlflow_model=mlflow_model,
                artifacts={"cell": str(files / _CELL), "representation": str(files / _REPRESENTATION),
                           "network": str(files / _NETWORK)},
                signature=_model_signature(task), pip_requirements=list(_requirements()),
                metadata={"ecg_repbench_version": bench.__version__, "cell": cell.label})


def log_model(client, run_id: str, experiment_id: str, cell, task, representation, network, cohort,
              train_rows: np.ndarray) -> str | None:
    """Log the cell's model as the run's LoggedModel `model` (unless the grid's `[eval] log_model = false`);
    returns its id."""
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    if not bool(cell.eval.get("log_model", True)):
        return None
    ensure_fitted(representation, cohort, train_rows)
    logged = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                        params={"cell": cell.label, "task": cell.task.id, "task_name": task.name,
                                                "representation": cell.representation.id,
                                                "model": cell.model.id, "seed": str(cell.seed)},
                                        model_type="ecg-repbench")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
            local = Path(tmp) / MODEL_NAME
            save_model(local, cell, task, representation, network,
                       Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id, run_id=run_id,
                             model_id=logged.model_id))
            client.log_model_artifacts(logged.model_id, str(local))
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        client.finalize_logged_model(logged.model_id, "READY")
    except BaseException:
        client.finalize_logged_model(logged.model_id, "FAILED")
        raise
    return logged.model_id


# -- finding and loading a logged model -------------------------------------------------------------------------
def load_run_model(client, run_id: str):
    """The pyfunc model of run `run_id` in the store `client` talks to (TrackedModelError when there is none).

    Same model as `mlflow.pyfunc.load_model("runs:/<run id>/model")`, fetched from the LoggedModel's own artifact
    location with this client's tracking URI: resolving `runs:/` goes through MLflow's global tracking URI."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    from bench.base.errors import TrackedModelError

    try:
        run = client.get_run(run_id)
    except MlflowException as e:
        raise TrackedModelError(f"run {run_id}: not found in {client.tracking_uri} ({e.error_code})") from None
    if run.info.status != "FINISHED":
        raise TrackedModelError(f"run {run_id} ({run.info.run_name}): status {run.info.status}, not FINISHED")
    logged = logged_models(client, run.info.experiment_id, [run_id]).get(run_id)
    if logged is None:
        raise TrackedModelError(f"run {run_id} ({run.info.run_name}): no model logged (its grid had "
                                "[eval] log_model = false, or it ran before models were logged)")
    local = download_artifacts(artifact_uri=logged.artifact_location, tracking_uri=client.tracking_uri)
    return mlflow.pyfunc.load_model(local)


def logged_models(client, experiment_id: str, run_ids: list[str]) -> dict:
    """Run id -> its READY LoggedModel named `model`, for those of `run_ids` that have one."""
    wanted = set(run_ids)
    found = {}
    token = None
    while True:
        page = client.search_logged_models(experiment_ids=[experiment_id], filter_string=f"name = '{MODEL_NAME}'",
                                           page_token=token)
        for m in page:
            if m.source_run_id in wanted and str(getattr(m.status, "name", m.status)).upper() == "READY":
                found.setdefault(m.source_run_id, m)
        token = page.token
        if not token:
            return found


def best_run(client, experiment: str, task_id: str) -> tuple[str, str, float]:
    """(run id, validation metric, value) of the finished cell of task `task_id` (its tag: the task's label or
    name) with the best validation primary metric (`val/best_<primary>`, never a test metric) among those with a
    logged model. Ties go to the earliest run, so the choice is stable."""
    from bench.base.errors import TrackedModelError
    from tasks import TASKS

    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise TrackedModelError(f"experiment {experiment!r}: not found in {client.tracking_uri}")
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.task = '{task_id}' and "
                              "attributes.status = 'FINISHED'", max_results=5000,
                              order_by=["attributes.start_time ASC"])
    if not runs:
        raise TrackedModelError(f"experiment {experiment!r}: no finished run of task {task_id!r}")
    with_model = logged_models(client, exp.experiment_id, [r.info.run_id for r in runs])
    best: tuple[str, str, float] | None = None
    for r in runs:
        if r.info.run_id not in with_model:
            continue
        task = TASKS.get(with_model[r.info.run_id].params["task_name"])
        metric = f"val/best_{task.primary_metric}"
        value = r.data.metrics.get(metric)
        if value is None:
            continue
        sign = 1.0 if task.higher_is_better else -1.0
        if best is None or sign * value > sign * best[2]:
            best = (r.info.run_id, metric, float(value))
    if best is None:
        raise TrackedModelError(f"experiment {experiment!r}: {len(runs)} finished run(s) of task {task_id!r}, but "
                                "none has both a logged model and a validation metric")
    return best
