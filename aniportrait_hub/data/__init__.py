"""Dataset format (DESIGN.md decision 7) and label priors computed from datasets.

May import: ``body``, ``conditioning``, ``rendering`` (cameras) and ``tracking`` (MediaPipe's
detectors).
"""

from aniportrait_hub.data.format import Dataset, DatasetError, DatasetInfo, DatasetWriter, Record, open_dataset
from aniportrait_hub.data.priors import priors_from_dataset

__all__ = ["Dataset", "DatasetError", "DatasetInfo", "DatasetWriter", "Record", "open_dataset", "priors_from_dataset"]
