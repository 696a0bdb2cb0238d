"""Run machinery: grid loading and expansion, the driver and executors, one cell's runner (data -> inputs ->
model -> fit -> test), the training loop, evaluation, MLflow tracking, the caches and compute measurement."""
