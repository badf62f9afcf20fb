"""Studies: the paper's protocol and the computations behind every figure, returning tables."""
