"""Dataset registry: every dataset is made offline, seeded, and saved as one ``.npz`` with a JSON meta."""

from genlab.data.dataset import Dataset, load_dataset

__all__ = ["DATASET_KINDS", "Dataset", "load_dataset", "make_dataset"]


def __getattr__(name: str):
    # The registry's makers import torch (the synthetic sets are drawn with torch generators); reading a
    # dataset does not, so figure kernels that only load data skip torch's 2 s import.
    if name in ("DATASET_KINDS", "make_dataset"):
        from genlab.data import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'genlab.data' has no attribute {name!r}")
