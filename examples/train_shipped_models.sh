#!/usr/bin/env bash
# The commands that made the shipped models in cosmos_env/weights/ (see each MODEL_CARD.md).
# Every step resumes where it stopped: re-run the script after a kill. On a 2-core CPU
# this takes about 2.5 hours per task (one thread per run, two runs side by side); on a
# GPU raise batch sizes and sizes (stage.size=base).
#   bash examples/train_shipped_models.sh [hopper halfcheetah]
# then: python examples/package_weights.py --task hopper
# As shipped: Hopper's tokenizer is the checkpoint at step 1250 of this 2000-step run
# (stopped early for time); HalfCheetah's Reason was trained on imagined clips of its
# Predict at step 3000, before Predict was continued to 4500. Both Predicts were then
# continued with the current loss (the defaults now; the first runs noised every context
# frame), resumed across sessions: to 9000 (Hopper) and 6800 (HalfCheetah) steps with half
# the targets trained given their observation (a two-pass sampling mode since retired: it
# needs commit 1d998a7 to re-run), then, training only the one-pass mode that the code now
# has and ending with a linear learning-rate cooldown, to 16000 and 13800:
#   cosmos-env train stage=predict task=T stage.tokenizer=cosmos_env/weights/T/tokenizer \
#     init=<that Predict> out=runs/T/predict_obsfirst train.steps=N train.batch_size=16 \
#     train.cooldown=2000
# and packaged with clean context (rollout context noise 0.1-0.3, tried with
# benchmarks/fidelity.py --seed 20000 on starts the cards do not report, fills
# HalfCheetah's sky with limbs and blurs Hopper's frames):
#   python examples/package_weights.py --task T --predict runs/T/predict_obsfirst/model \
#     --rollout-context-noise 0 --limits LIMITS.md
# Their Reason critics were trained against the first Predicts' imagined clips, then
# continued 600 steps against each newer Predict's (Hopper twice, HalfCheetah once) (exported first with
# `cosmos-env export ... reason=null rollout_context_noise=0 out=/tmp/hopper_wm`):
#   cosmos-env train stage=reason task=hopper stage.tokenizer=cosmos_env/weights/hopper/tokenizer \
#     stage.predict=/tmp/hopper_wm/predict init=cosmos_env/weights/hopper/reason \
#     out=runs/hopper/reason_v3 train.steps=600 train.batch_size=64   (HalfCheetah: runs/halfcheetah/reason_v2)
# Last, each tokenizer's decoder was continued on its Predict's imagined latents, the
# encoder frozen (so Predict and Reason need no retraining), and packaged in its place:
#   cosmos-env train stage=decoder task=hopper stage.tokenizer=cosmos_env/weights/hopper/tokenizer \
#     stage.predict=cosmos_env/weights/hopper/predict out=runs/hopper/decoder train.steps=2000 \
#     train.batch_size=8 train.cooldown=500            (HalfCheetah: stage.horizon=8 train.batch_size=6)
#   python examples/package_weights.py --task hopper --tokenizer runs/hopper/decoder/model \
#     --predict cosmos_env/weights/hopper/predict --reason cosmos_env/weights/hopper/reason --limits LIMITS.md
# and then continued again at horizon 32, training only an age conditioning of the decoder
# (a real latent decodes exactly as before; a whole decoder trained at 32 blurred every frame):
#   cosmos-env train stage=decoder task=T stage.tokenizer=cosmos_env/weights/T/tokenizer \
#     stage.predict=cosmos_env/weights/T/predict out=runs/T/decoder_age_only stage.horizon=32 \
#     stage.age_buckets=7 stage.age_only=true train.steps=800 train.batch_size=2 train.lr=1e-3 \
#     train.warmup=50 train.cooldown=250
#   python examples/package_weights.py --task T --tokenizer runs/T/decoder_age_only/model \
#     --predict cosmos_env/weights/T/predict --reason cosmos_env/weights/T/reason --limits LIMITS.md
set -euo pipefail
TASKS=${*:-hopper halfcheetah}
for task in $TASKS; do
  # hopper and walker terminate within ~20 random steps: keep stepping so that long
  # horizons and fallen states are in the data
  after=0; case $task in hopper|walker2d) after=100;; esac
  tok_steps=2000; pred_steps=3000
  case $task in halfcheetah) tok_steps=3000; pred_steps=4500;; esac
  cosmos-env collect task=$task steps=50000 out=data/$task progress=false steps_after_termination=$after
  cosmos-env train stage=tokenizer task=$task stage.size=small train.steps=$tok_steps train.batch_size=8 \
    train.progress=false
  cosmos-env train stage=predict task=$task stage.size=small train.steps=$pred_steps train.batch_size=16 \
    train.progress=false
  cosmos-env train stage=reason task=$task stage.size=small train.steps=2000 train.batch_size=64 \
    train.progress=false
done
