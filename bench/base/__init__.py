"""Shared base that every axis may import: registries, errors, the Signal type, the cohort schema, metrics and
the patient bootstrap. Nothing here imports the data intake or the run machinery."""
