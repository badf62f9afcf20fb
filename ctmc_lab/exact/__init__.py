"""Exact quantities of a noised source: KL(p_t|0 ‖ p_t) and its rate, scores, mdse/mdce and the integral decompositions."""
