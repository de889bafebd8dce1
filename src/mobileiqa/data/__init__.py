"""Data: photo sources, KADID-style distortions, simulated annotators, real-dataset adapters, manifests,
splits and the validation gate."""
