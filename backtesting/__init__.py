"""PURE backtesting: synthetic market history, the replay engine and its metrics.

``synthetic.generate`` yields market frames, ``engine.run`` replays a plan over them through the
live router (``routing_engine.find_route``) and settlement maths (``execution_plan``), and
``metrics.compute`` turns the run into figures. No Flask, SQLAlchemy, Redis or HTTP.
"""

from backtesting.model import (
    BacktestResult,
    DeskState,
    Frame,
    Plan,
    PlanKind,
    PoolState,
    Progress,
    SimTrade,
    SyntheticConfig,
)

__all__ = [
    "BacktestResult",
    "DeskState",
    "Frame",
    "Plan",
    "PlanKind",
    "PoolState",
    "Progress",
    "SimTrade",
    "SyntheticConfig",
]
