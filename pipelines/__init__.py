"""The Kubeflow pipeline of mobileiqa (mobileiqa_pipeline.py) and its compiled YAML (mobileiqa_pipeline.yaml)."""
