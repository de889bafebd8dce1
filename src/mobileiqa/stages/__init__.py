"""The pipeline stages, one module per stage of ``dvc.yaml`` (the module is named after the stage and its
``params.yaml`` section): typed config in, library calls, tracking, files out. The CLI, the DVC stages and the
Kubeflow components all call these functions; nothing below this layer imports it."""
