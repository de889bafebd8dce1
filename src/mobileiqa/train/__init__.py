"""Training: data loading with the shared resolution policy, losses, the loop, teacher training and
distillation."""
