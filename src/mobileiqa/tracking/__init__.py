"""Tracking: MLflow runs (:mod:`.mlflow_logger`), the model registry (:mod:`.mlflow_registry`: versions, aliases,
evidence), the promotion gates (:mod:`.promotion`), the model card and the served pyfunc model."""
