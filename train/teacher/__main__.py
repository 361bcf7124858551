"""``python -m train.teacher ...``: the teacher phases (:func:`train.teacher.run.main`)."""

from train.teacher.run import main

raise SystemExit(main())
