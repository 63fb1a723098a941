"""genlab: regenerate the thesis's figures and tables on generative modelling from one DAG."""

__version__ = "0.1.0"
