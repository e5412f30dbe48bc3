"""Agents: one protocol from uniform random to linear Thompson sampling, found by name."""

from __future__ import annotations

from typing import Any

from recbandit._validation import check_choice
from recbandit.agents.base import Agent, Decision, Obs
from recbandit.agents.epsilon_greedy import EpsilonGreedy
from recbandit.agents.lints import DisjointLinTS, LinTS
from recbandit.agents.linucb import DisjointLinUCB, LinUCB
from recbandit.agents.random import RandomAgent
from recbandit.agents.thompson import BernoulliTS
from recbandit.agents.ucb import UCB1

#: name -> agent class; the one place agents are looked up (CLI, runner, sweeps).
AGENTS: dict[str, type[Agent]] = {
    cls.name: cls
    for cls in (RandomAgent, EpsilonGreedy, UCB1, BernoulliTS, LinUCB, DisjointLinUCB, LinTS, DisjointLinTS)
}


def make_agent(name: str, seed: int | None = None, **params: Any) -> Agent:
    """Create a registered agent by name.

    Raises:
        ValueError: unknown name (the message lists the registered ones) or bad parameters.
    """
    check_choice("agent", name, AGENTS)
    return AGENTS[name](seed=seed, **params)


__all__ = [
    "AGENTS",
    "Agent",
    "BernoulliTS",
    "Decision",
    "DisjointLinTS",
    "DisjointLinUCB",
    "EpsilonGreedy",
    "LinTS",
    "LinUCB",
    "Obs",
    "RandomAgent",
    "UCB1",
    "make_agent",
]
