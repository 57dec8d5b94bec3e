#!/usr/bin/env bash
# Carry a training run between machines that start fresh (runs/ is not committed):
#   bash examples/carry_run.sh save runs/hopper/predict_v2   # latest checkpoint -> carry/hopper/predict_v2
# then commit carry/; on the next machine the v2 recipe (examples/train_shipped_models_v2.sh)
# copies it back into runs/ and `cosmos-env train` resumes from it (its SHA-256s are checked).
set -euo pipefail
[ "$1" = save ] || { echo "usage: $0 save RUN_DIR" >&2; exit 2; }
run=$2
rel=${run#runs/}
latest=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['dir'])" "$run/latest.json")
rm -rf "carry/$rel" && mkdir -p "carry/$rel/$(dirname "$latest")"
cp -r "$run/$latest" "carry/$rel/$latest"
cp "$run/latest.json" "carry/$rel/"
[ -f "$run/metrics.jsonl" ] && cp "$run/metrics.jsonl" "carry/$rel/"
du -sh "carry/$rel"
