"""Evaluation of trained experiments: every metric is declared in its module with `registry.metric` and
looked up in `METRICS` by name. Importing this package registers them all; the import order below is the
column order of the per-dataset tables (fidelity, likelihood, reconstruction, coverage, cost)."""

from genlab.evaluation.registry import METRICS, Metric, Run, get, metric
from genlab.evaluation import fidelity, likelihood, autoencoding, coverage, cost, conditional, geometry  # noqa: E402,F401,I001

__all__ = ["METRICS", "Metric", "Run", "get", "metric"]
