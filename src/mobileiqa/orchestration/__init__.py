"""Orchestration: the Kubeflow pipeline (compile, local run, submit)."""
