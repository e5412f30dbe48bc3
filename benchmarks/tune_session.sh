#!/bin/bash
# Tune every agent of benchmarks/session.py on Session-v0 within one budget (issue 12):
# B = 16, 50,000 decisions per run, 2 tuning seeds (1000, 1001), return per completed session,
# Ray Tune random search + ASHA on a local Ray of 2 CPUs. Writes benchmarks/results/tune/<agent>/
# (tune.json, trials/); benchmarks/session.py then runs each chosen setting on the held-out seeds.
# 20.7 min of wall time on the 2-core machine. Usage: bash benchmarks/tune_session.sh
set -euo pipefail
cd "$(dirname "$0")/.."
T=benchmarks/results/tune
common=(--env recbandit/Session-v0 --batch-size 16 --horizon 50000 --seeds 2 --metric return --workers 2)
tune() { name=$1; shift; recbandit tune "${common[@]}" --out "$T/$name" "$@"; }
tune linucb --agent linucb-shared --trials 8 --space "alpha=log(0.01,3)"
tune a2c --agent a2c --trials 12 \
    --space "learning_rate=log(3e-4,1e-2),n_steps=4|8|16|32,gamma=0.9|0.95|0.99,ent_coef=0.0|0.01" \
    --agent-arg use_rms_prop=False
tune ppo --agent ppo --trials 10 --space "learning_rate=log(3e-4,1e-2),n_steps=16|32|64,gamma=0.9|0.95|0.99" \
    --agent-arg batch_size=256 --agent-arg n_epochs=4 --agent-arg ent_coef=0.01
tune neural-linear --agent neural-linear --trials 8 \
    --space "lr=log(3e-4,1e-2),weight_decay=log(1e-4,1e-2),train_every=50|100|400"
tune dqn --agent dqn --trials 8 \
    --space "learning_rate=log(1e-4,3e-3),gamma=0.9|0.95|0.99,batch_size=64|128|256,train_freq=1|4,target_update_interval=250|1000|4000" \
    --agent-arg total_timesteps=50000 --agent-arg learning_starts=2000 \
    --agent-arg exploration_fraction=0.1 --agent-arg exploration_final_eps=0.02
