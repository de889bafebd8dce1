"""mobileiqa: the MobileIQA no-reference image quality model family and its MLOps pipeline."""

__version__ = "0.1.0"
