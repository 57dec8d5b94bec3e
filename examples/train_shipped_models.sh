#!/usr/bin/env bash
# The commands that made the shipped models in cosmos_env/weights/ (see each MODEL_CARD.md).
# Every step resumes where it stopped: re-run the script after a kill. On a 2-core CPU
# this takes hours; on a GPU raise batch sizes and sizes (size=base).
#   bash examples/train_shipped_models.sh [hopper halfcheetah]
# then: python examples/package_weights.py --task hopper
set -euo pipefail
TASKS=${*:-hopper halfcheetah}
TOK_STEPS=${TOK_STEPS:-3000}
PRED_STEPS=${PRED_STEPS:-4000}
REASON_STEPS=${REASON_STEPS:-2000}
for task in $TASKS; do
  # hopper and walker terminate within ~20 random steps: keep stepping so that long
  # horizons and fallen states are in the data
  after=0; case $task in hopper|walker2d) after=100;; esac
  cosmos-env collect task=$task steps=50000 out=data/$task progress=false steps_after_termination=$after
  cosmos-env train stage=tokenizer task=$task size=small train.steps=$TOK_STEPS train.batch_size=8 \
    train.val_every=500 train.ckpt_every=250 train.progress=false
  cosmos-env train stage=predict task=$task size=small train.steps=$PRED_STEPS train.batch_size=32 \
    train.val_every=500 train.ckpt_every=250 train.progress=false
  cosmos-env train stage=reason task=$task size=small train.steps=$REASON_STEPS train.batch_size=64 \
    train.val_every=500 train.ckpt_every=250 train.progress=false
done
