"""mobileiqa: the MobileIQA no-reference image quality model family and its MLOps pipeline."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy ``mobileiqa.Predictor`` (importing the package stays cheap)."""
    if name == "Predictor":
        from mobileiqa.predict import Predictor  # lazy: `import mobileiqa` stays cheap (no torch, numpy, PIL)

        return Predictor
    raise AttributeError(f"module 'mobileiqa' has no attribute {name!r}")
