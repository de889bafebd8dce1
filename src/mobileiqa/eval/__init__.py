"""Evaluation: accuracy metrics (:mod:`.metrics`), the evaluated split scored and compared with classic baselines
(:mod:`.scorecard`, :mod:`.baselines`), behavioural checks, compute cost, plots and the benchmark doc renderer."""
