"""Venue state in the database, as the pure core's values: load pools and desks, seed defaults.

The core's ``Pool`` and ``Desk`` are frozen values; the database rows are their storage. This
module converts between the two and seeds a fresh database (tokens, the default pools and desks,
their ledger accounts, the treasury, the Jupiter counterparty and a funded demo account).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

import otc_engine
from amm.pools import Pool, default_pools
from errors import ValidationError
from models import Account, AccountKind, AmmPool, Balance, DbSession, LedgerEntry, OTCPool, Token, utcnow
from pnl import usd_value
from portfolio import Move, record_moves
from price_feeds import PoolImpliedSource, StaticSource
from tokens import TOKENS, get_token, to_base_units

__all__ = [
    "DEMO_FUNDING",
    "JUPITER_ACCOUNT",
    "TREASURY_ACCOUNT",
    "create_account",
    "create_operator_account",
    "deposit",
    "desk_from_row",
    "hash_api_key",
    "load_desks",
    "load_pools",
    "pool_from_row",
    "reference_prices",
    "seed_database",
    "seed_prices",
]

TREASURY_ACCOUNT = "treasury"
JUPITER_ACCOUNT = "jupiter"
# What a new paper account starts with, in token units.
DEMO_FUNDING: Mapping[str, str] = {
    "SOL": "1000",
    "USDC": "250000",
    "USDT": "250000",
    "JUP": "100000",
    "RAY": "50000",
    "BONK": "5000000000",
}


def seed_prices() -> dict[str, Decimal]:
    """The reference USD prices the default pools and desks are seeded at (no network)."""
    return {s: q.price_usd for s, q in StaticSource().fetch(tuple(TOKENS)).items()}


def pool_from_row(row: Any) -> Pool:
    """The pure pool value of a database row."""
    return Pool(
        pool_id=str(row.id),
        venue=str(row.venue),
        token_a=str(row.token_a),
        token_b=str(row.token_b),
        reserve_a=int(row.reserve_a),
        reserve_b=int(row.reserve_b),
        fee_bps=int(row.fee_bps),
    )


def desk_from_row(
    row: OTCPool | sa.Row[tuple[object, ...]], settlement_scale: Decimal = Decimal(1)
) -> otc_engine.Desk:
    """The pure desk value of a database row (settlement delay scaled by ``settlement_scale``)."""
    return otc_engine.Desk(
        desk_id=str(row.id),
        name=str(row.name),
        base=str(row.base),
        quote=str(row.quote),
        base_spread_bps=Decimal(row.base_spread_bps),
        size_spread_bps=Decimal(row.size_spread_bps),
        curve=otc_engine.SpreadCurve(row.curve),
        min_size=int(row.min_size),
        max_size=int(row.max_size),
        inventory_base=int(row.inventory_base),
        inventory_quote=int(row.inventory_quote),
        target_base=int(row.target_base),
        target_quote=int(row.target_quote),
        refill_base_per_s=int(row.refill_base_per_s),
        refill_quote_per_s=int(row.refill_quote_per_s),
        settlement_delay_s=Decimal(row.settlement_delay_s) * settlement_scale,
        updated_at=float(row.inventory_at),
        noise_bps=Decimal(row.noise_bps),
    )


_POOL_COLUMNS = (
    AmmPool.id,
    AmmPool.venue,
    AmmPool.token_a,
    AmmPool.token_b,
    AmmPool.reserve_a,
    AmmPool.reserve_b,
    AmmPool.fee_bps,
)


def load_pools(session: DbSession) -> tuple[Pool, ...]:
    """Every AMM pool as it is now (one plain SELECT: quoting reads this on every request)."""
    rows = session.execute(sa.select(*_POOL_COLUMNS).order_by(AmmPool.id)).all()
    return tuple(pool_from_row(r) for r in rows)


def load_desks(session: DbSession, settlement_scale: Decimal = Decimal(1)) -> tuple[otc_engine.Desk, ...]:
    """Every OTC desk as it is now."""
    rows = session.execute(sa.select(OTCPool).order_by(OTCPool.id)).scalars().all()
    return tuple(desk_from_row(r, settlement_scale) for r in rows)


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def account_for_api_key(session: DbSession, key: str) -> Account | None:
    """The trader account holding API key ``key`` (surrounding blanks ignored), if any."""
    key = key.strip()
    if not key:
        return None
    account: Account | None = session.execute(
        sa.select(Account).where(
            Account.api_key_hash == hash_api_key(key), Account.kind == AccountKind.TRADER
        )
    ).scalar_one_or_none()
    return account


def _system_account(session: DbSession, name: str, kind: AccountKind) -> Account:
    account = session.execute(sa.select(Account).where(Account.name == name)).scalar_one_or_none()
    if account is None:
        account = Account(name=name, kind=kind)
        session.add(account)
        session.flush()
    return account


def reference_prices(session: DbSession) -> dict[str, Decimal]:
    """USD prices without a network: implied by our pools as stored now, static ones for the rest."""
    return seed_prices() | PoolImpliedSource().implied_prices(load_pools(session))


def deposit(
    session: DbSession,
    account: Account,
    amounts: Mapping[str, object],
    memo: str,
    *,
    prices_usd: Mapping[str, Decimal] | None = None,
) -> None:
    """Credit paper funds from the treasury: two ledger entries per token, summing to zero.

    The account's positions gain the amounts at cost ``prices_usd`` (default: ``reference_prices``).
    """
    treasury = _system_account(session, TREASURY_ACCOUNT, AccountKind.TREASURY)
    journal = f"deposit-{uuid.uuid4().hex}"
    now = utcnow()
    prices = reference_prices(session) if prices_usd is None else prices_usd
    moves: list[Move] = []
    for symbol, human in amounts.items():
        token = get_token(symbol)
        units = to_base_units(token, human, field=f"deposit.{token.symbol}")
        if units <= 0:
            raise ValidationError(f"deposit of {token.symbol} must be positive", field=f"deposit.{symbol}")
        balance = session.get(
            Balance, (account.id, token.symbol), with_for_update=True, populate_existing=True
        )
        if balance is None:
            balance = Balance(account_id=account.id, token=token.symbol, amount=0, reserved=0)
            session.add(balance)
        balance.amount += units
        balance.updated_at = now
        moves.append(
            Move(
                account.id,
                token.symbol,
                units,
                usd_value(token.symbol, units, prices.get(token.symbol, Decimal(0))),
            )
        )
        session.add_all(
            [
                LedgerEntry(
                    account_id=account.id,
                    token=token.symbol,
                    amount=units,
                    journal=journal,
                    memo=memo,
                    created_at=now,
                ),
                LedgerEntry(
                    account_id=treasury.id,
                    token=token.symbol,
                    amount=-units,
                    journal=journal,
                    memo=memo,
                    created_at=now,
                ),
            ]
        )
    session.flush()  # the balances first: positions are locked after them
    record_moves(session, moves, now)


def create_account(
    session: DbSession, name: str, *, funding: Mapping[str, object] | None = None
) -> tuple[Account, str]:
    """A new trader account and its API key (shown once; only its hash is kept)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationError("account name must be 1 to 64 characters", field="name")
    if session.execute(sa.select(Account.id).where(Account.name == name)).first() is not None:
        raise ValidationError(f"an account named {name!r} already exists", field="name")
    key = "sr_" + secrets.token_urlsafe(32)
    account = Account(
        name=name, kind=AccountKind.TRADER, api_key_hash=hash_api_key(key), api_key_prefix=key[:10]
    )
    session.add(account)
    session.flush()
    deposit(session, account, DEMO_FUNDING if funding is None else funding, memo="initial paper funding")
    return account, key


def create_operator_account(session: DbSession, name: str) -> tuple[Account, str]:
    """A new operator account (no balances) and its API key (shown once; only its hash is kept)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise ValidationError("account name must be 1 to 64 characters", field="name")
    if session.execute(sa.select(Account.id).where(Account.name == name)).first() is not None:
        raise ValidationError(f"an account named {name!r} already exists", field="name")
    key = "sr_op_" + secrets.token_urlsafe(32)
    account = Account(
        name=name, kind=AccountKind.OPERATOR, api_key_hash=hash_api_key(key), api_key_prefix=key[:10]
    )
    session.add(account)
    session.flush()
    return account, key


def seed_database(
    session: DbSession, *, now: float | None = None, demo_account: str | None = "demo"
) -> str | None:
    """Seed an empty database; idempotent. Returns the demo account's API key when it was created."""
    now = datetime.now(UTC).timestamp() if now is None else now
    for token in TOKENS.values():
        if session.get(Token, token.symbol) is None:
            session.add(Token(symbol=token.symbol, mint=token.mint, decimals=token.decimals, name=token.name))
    session.flush()
    _system_account(session, TREASURY_ACCOUNT, AccountKind.TREASURY)
    _system_account(session, JUPITER_ACCOUNT, AccountKind.COUNTERPARTY)
    prices = seed_prices()
    for pool in default_pools(prices):
        if session.get(AmmPool, pool.pool_id) is None:
            account = _system_account(session, f"pool:{pool.pool_id}", AccountKind.POOL)
            session.add(
                AmmPool(
                    id=pool.pool_id,
                    venue=pool.venue,
                    token_a=pool.token_a,
                    token_b=pool.token_b,
                    reserve_a=pool.reserve_a,
                    reserve_b=pool.reserve_b,
                    fee_bps=pool.fee_bps,
                    account_id=account.id,
                )
            )
    for desk in otc_engine.default_desks(prices, now):
        if session.get(OTCPool, desk.desk_id) is None:
            account = _system_account(session, f"desk:{desk.desk_id}", AccountKind.DESK)
            session.add(
                OTCPool(
                    id=desk.desk_id,
                    name=desk.name,
                    base=desk.base,
                    quote=desk.quote,
                    base_spread_bps=desk.base_spread_bps,
                    size_spread_bps=desk.size_spread_bps,
                    curve=desk.curve.value,
                    min_size=desk.min_size,
                    max_size=desk.max_size,
                    inventory_base=desk.inventory_base,
                    inventory_quote=desk.inventory_quote,
                    target_base=desk.target_base,
                    target_quote=desk.target_quote,
                    refill_base_per_s=desk.refill_base_per_s,
                    refill_quote_per_s=desk.refill_quote_per_s,
                    settlement_delay_s=desk.settlement_delay_s,
                    noise_bps=desk.noise_bps,
                    account_id=account.id,
                    inventory_at=desk.updated_at,
                )
            )
    key = None
    if (
        demo_account
        and session.execute(sa.select(Account.id).where(Account.name == demo_account)).first() is None
    ):
        _, key = create_account(session, demo_account)
    session.flush()
    return key
