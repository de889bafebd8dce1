"""Evaluation: compute cost measurements now; accuracy metrics and reports as the pipeline grows."""
