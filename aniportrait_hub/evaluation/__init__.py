"""Measuring models: metrics (FID / KID through an offline InceptionV3, control, head pose,
expression, multi-view consistency, geometry), the evaluation suite's registry and its metrics
(``suite/``), what the embedded default model must show, inversion and tracking accuracy, and
the host-sync counter.

May import: anything in the library (``pipelines``, ``rendering``, ``data``, ``tracking``,
``inversion``, ``studio``, ``video``); only the commands and benchmarks import it.
"""
