"""Scale-out on Dask: out-of-core Parquet panels, distributed log-determinants, batch fits.

Nothing here is imported unless a cluster is asked for (``--cluster``, ``cluster:`` in a spec,
``client=`` in :func:`bayes_sdm.api.prepare` / :func:`bayes_sdm.api.fit`); Dask is the optional
extra ``bayes_sdm[dask]``.

* :mod:`~bayes_sdm.distributed.cluster` -- ``local:K`` / ``tcp://HOST:PORT`` /
  ``scheduler-file:PATH`` clients, batches of named tasks with retries and failures reported by
  name, the per-worker cache of compiled samplers;
* :mod:`~bayes_sdm.distributed.parquet`, :mod:`~bayes_sdm.distributed.moments`,
  :mod:`~bayes_sdm.distributed.stats` -- the Gram matrix of a partitioned Parquet panel as a
  map-reduce over periods, never holding the panel in one process;
* :mod:`~bayes_sdm.distributed.weights` -- W from a Parquet edge list or k-NN from coordinate
  columns, built blockwise;
* :mod:`~bayes_sdm.distributed.logdet` -- the Chebyshev nodes' sparse LUs (and the stochastic
  probes) as independent tasks, the interpolant identical to the single-process one;
* :mod:`~bayes_sdm.distributed.batch` -- SBC simulations, specification grids, per-region fits
  and posterior predictive checks as tasks, each worker compiling once.

See ``docs/scale.md`` for running on Kubernetes or SLURM and the measured costs.
"""
