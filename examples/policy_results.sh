#!/usr/bin/env bash
# The README's table of agents trained in imagination (issue 21), one arm at a time:
#   bash examples/policy_results.sh hopper dyna      # or: halfcheetah model_free, hopper dyna_real, ...
# Each arm trains once under runs/bench_policies/<task>/<arm>/ (it resumes after a kill, but a
# Dyna arm's real data holds frames and stays on its machine), then its result (result.json,
# wall.json, eval.jsonl and the actor: a few hundred kB) is copied to carry/bench_policies/, from
# where a fresh machine judges it again without retraining. Figures: docs/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:?usage: $0 TASK ARM}
arm=${2:?usage: $0 TASK ARM}
declare -A weights=([hopper]=cosmos_env/weights/hopper-v3 [halfcheetah]=cosmos_env/weights/halfcheetah-v3)
runs=runs/bench_policies/$task
mkdir -p "$runs"
for finished in carry/bench_policies/"$task"/*/; do  # finished arms come back, so the table can judge them all
  [ -d "$finished" ] && [ ! -d "$runs/$(basename "$finished")" ] && cp -r "$finished" "$runs/"
done
arms=(random)
for d in "$runs"/*/; do [ -f "$d/result.json" ] && arms+=("$(basename "$d")"); done
[[ " ${arms[*]} " == *" $arm "* ]] || arms+=("$arm")
python benchmarks/policy_bench.py --task "$task" --arms "${arms[@]}" --imagined-steps 200000 \
  --weights "${weights[$task]}" --json "docs/results/policy_bench-$task.json"
cp "$runs/curves.png" "docs/results/policy_bench-$task.png"
[ "$arm" = random ] && exit 0
keep=carry/bench_policies/$task/$arm
rm -rf "$keep" && mkdir -p "$keep"
cp "$runs/$arm"/{result.json,wall.json} "$keep/"
if [[ "$arm" == model_free* ]]; then
  cp -r "$runs/$arm"/{actor,eval.jsonl,config.json} "$keep/"
else
  mkdir -p "$keep/policy" && cp -r "$runs/$arm/policy"/{actor,eval.jsonl,config.json} "$keep/policy/"
fi
du -sh "$keep"
