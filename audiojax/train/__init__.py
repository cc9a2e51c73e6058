"""The one training loop every experiment shares: state, steps, checkpoints, metrics."""
