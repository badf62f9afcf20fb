"""Monte Carlo likelihood estimators, their exact moments, conditional likelihoods and log-ratios."""
