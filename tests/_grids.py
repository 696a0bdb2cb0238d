"""The small grid files the end-to-end tests share (local executor in test_e2e.py, Ray in test_ray.py): LVEF on
90 simulated patients, raw and DWT+PCA into the 1D CNN and the MLP, so both executors run the same cells."""
from __future__ import annotations


def lvef_grid(name: str, *, epochs: int, n_boot: int, gradcam_ecgs: int, num_threads: int | None = None,
              models: tuple[str, ...] = ("cnn1d", "mlp")) -> str:
    threads = f"num_threads = {num_threads}\n" if num_threads is not None else ""
    model_tables = "".join(f'[[models]]\nname = "{m}"\n' for m in models)
    return (f'\nname = "{name}"\nsource = "synthetic:90,seed=5"\nseeds = [0]\n[train]\nepochs = {epochs}\n'
            f"batch_size = 16\npatience = 0\n{threads}[split]\nval = 0.2\ntest = 0.3\n[eval]\nn_boot = {n_boot}\n"
            f'gradcam_ecgs = {gradcam_ecgs}\n[[tasks]]\nname = "lvef"\n[[representations]]\nname = "raw"\n'
            f'[[representations]]\nname = "dwt_pca"\n{model_tables}')
