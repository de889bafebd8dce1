"""Experiment tracking (MLflow) and, later, the model registry and promotion rule."""
