"""SpikePipe hardware: cycle model, schedulers, discrete-event and cycle-level simulation."""
