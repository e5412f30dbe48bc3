"""Agents: one protocol from uniform random to linear Thompson sampling, found by name."""

from __future__ import annotations

from typing import Any

from recbandit._validation import check_choice
from recbandit.agents.base import Agent, Decision, Obs
from recbandit.agents.epsilon_greedy import EpsilonGreedy
from recbandit.agents.lints import DisjointLinTS, LinTS
from recbandit.agents.linucb import DisjointLinUCB, LinUCB
from recbandit.agents.linucb_hybrid import HybridLinUCB
from recbandit.agents.neural_ensemble import NeuralEnsemble
from recbandit.agents.neural_linear import NeuralLinear
from recbandit.agents.neural_ts import NeuralTS
from recbandit.agents.neural_ucb import NeuralUCB
from recbandit.agents.random import RandomAgent
from recbandit.agents.sb3 import A2CAgent, DQNAgent, PPOAgent
from recbandit.agents.thompson import BernoulliTS
from recbandit.agents.ucb import UCB1

#: name -> agent class; the one place agents are looked up (CLI, runner, sweeps).
AGENTS: dict[str, type[Agent]] = {
    cls.name: cls
    for cls in (
        RandomAgent,
        EpsilonGreedy,
        UCB1,
        BernoulliTS,
        LinUCB,
        DisjointLinUCB,
        HybridLinUCB,
        LinTS,
        DisjointLinTS,
    )
}
# Neural agents (torch is imported when one sees its first observation, not here).
AGENTS.update({cls.name: cls for cls in (NeuralLinear, NeuralUCB, NeuralTS, NeuralEnsemble)})
# Deep RL from stable-baselines3, trained online through the same act/update (torch and SB3 load lazily).
AGENTS.update({cls.name: cls for cls in (DQNAgent, PPOAgent, A2CAgent)})


def make_agent(name: str, seed: int | None = None, **params: Any) -> Agent:
    """Create a registered agent by name.

    Raises:
        ValueError: unknown name (the message lists the registered ones) or bad parameters.
    """
    check_choice("agent", name, AGENTS)
    return AGENTS[name](seed=seed, **params)


__all__ = [
    "AGENTS",
    "A2CAgent",
    "Agent",
    "BernoulliTS",
    "DQNAgent",
    "Decision",
    "DisjointLinTS",
    "DisjointLinUCB",
    "EpsilonGreedy",
    "HybridLinUCB",
    "LinTS",
    "LinUCB",
    "NeuralEnsemble",
    "NeuralLinear",
    "NeuralTS",
    "NeuralUCB",
    "Obs",
    "PPOAgent",
    "RandomAgent",
    "UCB1",
    "make_agent",
]
