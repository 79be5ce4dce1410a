"""Paper trading bots run by a bot manager (README "Bots").

``bots.manager``: create, start, stop, delete and run one tick of a bot under its lease;
``bots.orders``: the order path a bot uses (the API's intake); one module per bot type
(``arbitrage``, ``rebalance``, ``flow``, ``dca``) with ``validate`` and ``decide``.
"""

from bots.base import Intent, Tick
from bots.manager import (
    TYPES,
    ActionRecord,
    TickResult,
    create_bot,
    delete_bot,
    due_bot_ids,
    run_bot,
    set_running,
)

__all__ = [
    "TYPES",
    "ActionRecord",
    "Intent",
    "Tick",
    "TickResult",
    "create_bot",
    "delete_bot",
    "due_bot_ids",
    "run_bot",
    "set_running",
]
