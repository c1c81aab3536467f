"""Training: the one loop (engine.py), losses, optimisers and schedules, the folds x seeds runner."""
