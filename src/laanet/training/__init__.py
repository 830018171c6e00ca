"""Training: losses, SAM, schedule, loop (see the individual modules)."""
