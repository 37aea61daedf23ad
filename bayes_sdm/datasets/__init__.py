"""Bundled datasets: real benchmark panels and the synthetic seed-study panel.

>>> from bayes_sdm.datasets import list_datasets, load_dataset
>>> list_datasets()
['cigar', 'columbus', 'produc', 'synthetic_ua']
>>> ds = load_dataset("cigar")
>>> ds.panel().y.shape
(30, 46)

* ``cigar`` -- Baltagi's cigarette demand, 46 US states x 30 years, usa46 contiguity.
* ``columbus`` -- Anselin's Columbus crime data, a cross-section of 49 neighbourhoods (T = 1).
* ``produc`` -- Munnell's public capital productivity, 48 US states x 17 years, usaww contiguity.
* ``synthetic_ua`` -- SYNTHETIC panel shaped like the seed study (176 Chinese cities in 18 urban
  agglomerations, 2003-2018), with its data-generating truth and the raw tables behind its
  indices (:func:`load_raw_tables`).

Files live in ``bayes_sdm/datasets/data`` (see the README.md files there for provenance) and are
read with :mod:`importlib.resources`; nothing is downloaded.
"""

from ._loaders import Dataset, list_datasets, load_dataset, load_raw_tables, synthetic_weights

__all__ = ["Dataset", "list_datasets", "load_dataset", "load_raw_tables", "synthetic_weights"]
