#!/usr/bin/env bash
# the rest of examples/train_shipped_models_v2.sh halfcheetah (data and curation done), one thread
set -euo pipefail
task=halfcheetah; data=data/$task-mix; PREDICT_STEPS=32000
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
