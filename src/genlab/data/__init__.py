"""Dataset registry: every dataset is made offline, seeded, and saved as one ``.npz`` with a JSON meta."""

from genlab.data.dataset import Dataset, load_dataset
from genlab.data.registry import DATASET_KINDS, make_dataset

__all__ = ["DATASET_KINDS", "Dataset", "load_dataset", "make_dataset"]
