"""Data as users keep it: arrays, image folders, TFRecord files and ``tf.data`` datasets, read as named splits.

``open_data`` turns what a user gives into a ``DataSource``; stages read its ``Split`` objects (``split.py``),
which stream samples from disk when they do not fit in memory (``folder.py``, ``records.py``). ``feed.py`` turns
a split into what Keras ``fit`` takes.
"""

from tfcompress.datasets.folder import scan_folder
from tfcompress.datasets.records import RecordSpec
from tfcompress.datasets.source import DataSource, as_source, from_arrays, open_data
from tfcompress.datasets.split import ArraySplit, Split, StreamSplit

__all__ = ["DataSource", "open_data", "as_source", "from_arrays", "scan_folder", "RecordSpec", "Split",
           "ArraySplit", "StreamSplit"]
