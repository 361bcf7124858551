"""The evaluation suite's metrics, one file each (:mod:`aniportrait_hub.evaluation.registry`)."""
