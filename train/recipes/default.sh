#!/usr/bin/env bash
# Reproduces the embedded default model (aniportrait_hub/pretrained/default) from a fresh clone,
# end to end: teacher data from the synthetic renderer, the 3D teacher phases (M, phi, D^e),
# super-resolution U, export, install into the package, evaluation, figures, model card.
#
#   make install && bash train/recipes/default.sh            # ~2.5 h on a 2-core CPU
#   DEVICE=cuda IDENTITIES=2000 RADIANCE_MINUTES=60 bash train/recipes/default.sh   # a GPU
#
# Every phase checkpoints into $RUN; re-running resumes at the first unfinished phase.
# The `default` preset's phi has the feature plane from the start (its per-identity warp is
# fitted before the first radiance step). To give an older, plane-less stage one instead, as the
# shipped model got it: python -m train.teacher --out RUN --add_plane true --phases face (after marking
# "face" undone in RUN/state.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/teacher}
export HF_HUB_OFFLINE=1

# 1. Teacher data + phases (data, manifold, radiance, face, expression, superres, export).
$PY -m train.teacher --out "$RUN" --device "${DEVICE:-cpu}" --identities "${IDENTITIES:-320}" \
    --radiance_minutes "${RADIANCE_MINUTES:-45}" --face_minutes "${FACE_MINUTES:-15}" \
    --superres_minutes "${SUPERRES_MINUTES:-15}" \
    --radiance_batch "${RADIANCE_BATCH:-4}" --superres_batch "${SUPERRES_BATCH:-2}"
# 2. Install the exported pipeline as the package's default model (replaces the shipped one).
$PY train/default_card.py install --run "$RUN"
# 3. Evaluate (JSON + README pictures), speed, phase figures, model card with the metrics.
$PY -m aniportrait_hub.commands.evaluate_default --model default --out benchmarks/results/default_model.json \
    --pictures docs
$PY benchmarks/render.py --model default
$PY train/teacher_figures.py --run "$RUN" --out docs
$PY train/default_card.py card --run "$RUN" --metrics benchmarks/results/default_model.json \
    --speed benchmarks/results/render_default.json
