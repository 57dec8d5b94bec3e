#!/usr/bin/env bash
# The commands that make the v2 world models (cosmos_env/Hopper-v1, cosmos_env/HalfCheetah-v1).
# Every step resumes where it stopped: re-run the script after a kill. v2 keeps v1's
# tokenizer encoder (so v1's latent space, and its Reason critic, stay valid) and trains:
#   data     200k steps per task mixing behaviours: uniform and smooth random actions and the
#            seed-A SAC ladder (never seed B, which evaluation ranks) with action noise 0 /
#            0.1 / 0.3, 30% of episodes switching behaviour mid-way (behaviour=mix);
#   curation near-static clips and near-duplicates dropped (cosmos-env curate);
#   predict  the small-v2 architecture: 2x2 patches, rotary time, a 4-frame band (context
#            cache at sampling time), an 8-step shortcut (1-8 sampler steps), windows of
#            4 context + 4 target frames;
#            (torch.compile: 1.34x the steps/s of eager on 2 CPU cores);
#   self forcing  then continued in the same run directory (it resumes from the latest
#            checkpoint) on windows whose context the model imagined itself, 4 sampler steps
#            per frame: 4000 steps with a quarter of the windows, 4000 more with half, the
#            learning rate 1e-4 decaying to 0 in each (Hopper's ranking Spearman 0.75 -> 0.88 -> 0.91);
#   probe    a pose probe on real frames, for benchmarks/fidelity.py.
#   bash examples/train_shipped_models_v2.sh [hopper halfcheetah]
# PREDICT_STEPS (default 32000, what Hopper v2 was trained for) sets the Predict run's length; WORKERS (default 0: one per
# core) the collection processes (1 to run the tasks side by side, one core each).
# A run carried between machines (carry/<task>/predict_v2: its latest checkpoint, committed
# by `examples/carry_run.sh save`) is put back in runs/ first, and training resumes from it.
set -euo pipefail
TASKS=${*:-hopper halfcheetah}
PREDICT_STEPS=${PREDICT_STEPS:-32000}
WORKERS=${WORKERS:-0}
for task in $TASKS; do
  after=0; case $task in hopper|walker2d) after=100;; esac
  data=data/$task-mix
  cosmos-env collect task=$task steps=200000 out=$data behaviour.name=mix progress=false workers=$WORKERS \
    behaviour.ladder=cosmos_env/weights/policies/$task/seed-a steps_after_termination=$after
  cosmos-env curate data=$data
  if [ -d carry/$task/predict_v2 ] && [ ! -f runs/$task/predict_v2/latest.json ]; then
    mkdir -p runs/$task && cp -r carry/$task/predict_v2 runs/$task/predict_v2
  fi
  cosmos-env train stage=predict task=$task data=$data out=runs/$task/predict_v2 stage.size=small-v2 \
    stage.tokenizer=cosmos_env/weights/$task/tokenizer stage.horizon=4 stage.pure_noise_fraction=0.5 \
    stage.curation=$data/curation.json train.steps=$PREDICT_STEPS train.batch_size=16 train.cooldown=4000 \
    train.compile=true train.progress=false
  for phase in "$((PREDICT_STEPS + 4000)) 0.25" "$((PREDICT_STEPS + 8000)) 0.5"; do
    read -r steps fraction <<< "$phase"
    cosmos-env train stage=predict task=$task data=$data out=runs/$task/predict_v2 stage.size=small-v2 \
      stage.tokenizer=cosmos_env/weights/$task/tokenizer stage.horizon=4 stage.pure_noise_fraction=0.5 \
      stage.curation=$data/curation.json stage.self_forcing_fraction=$fraction stage.self_forcing_frames=6 \
      stage.self_forcing_sampler_steps=4 train.steps=$steps train.batch_size=16 train.lr=1e-4 train.warmup=0 \
      train.cooldown=4000 train.compile=true train.progress=false
  done
  cosmos-env train stage=probe task=$task data=$data out=runs/$task/probe train.steps=3000 train.batch_size=32 \
    train.progress=false
done
