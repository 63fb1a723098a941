"""Evaluation metrics: FID with the pipeline's own feature net, NLL in bits/dim, sampling cost."""
