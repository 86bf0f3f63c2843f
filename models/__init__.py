"""SNN numerics: the LIF IIR neuron, per-layer FP / WG / IG tasks, optimisers and the delayed-gradient trainer."""
