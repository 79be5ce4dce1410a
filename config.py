"""Settings from the environment, in one place.

Every figure has a default that runs on a machine with no internet; set the variable to
change it. Later layers (the Flask app) read this same object.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from errors import ValidationError

__all__ = ["Settings", "app_config", "check_secret_key"]


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip() or default


def _number(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = _text(env, name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ValidationError(f"environment variable {name}={raw!r} is not a number", field=name) from exc
    if not value.is_finite() or value < 0:
        raise ValidationError(
            f"environment variable {name}={raw!r} must be a non-negative number", field=name
        )
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"environment variable {name}={raw!r} is not a boolean", field=name)


def _hops(env: Mapping[str, str], name: str, default: int) -> int:
    value = _number(env, name, str(default))
    if value not in (1, 2, 3):
        raise ValidationError(f"environment variable {name}={env.get(name)!r} must be 1, 2 or 3", field=name)
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Runtime settings; ``Settings.from_env()`` reads them from the environment."""

    jupiter_base_url: str = "https://api.jup.ag/swap/v1"
    jupiter_api_key: str | None = None
    jupiter_timeout_s: float = 2.0
    jupiter_max_rps: float = 0.5  # the free tier allows well under 1 request per second
    jupiter_enabled: bool = True
    coingecko_url: str = "https://api.coingecko.com/api/v3"
    coingecko_api_key: str | None = None
    kraken_url: str = "https://api.kraken.com/0/public"
    binance_url: str = "https://api.binance.com/api/v3"
    price_timeout_s: float = 2.0
    price_ttl_s: float = 300.0
    price_failure_ttl_s: float = 30.0
    offline: bool = False  # skip every outside API (prices fall back to pools and static defaults)
    min_leg_usd: Decimal = Decimal("1")
    # A venue whose own price (fee taken out) is further than this from the reference mid is not
    # routed and is shown as "rejected: outlier" (0: never reject).
    outlier_pct: Decimal = Decimal("20")
    # A split keeps an extra leg only if it adds at least this much output (0: every leg that pays).
    min_gain_bps_per_leg: Decimal = Decimal("0.5")
    max_hops: int = 3  # paths of up to this many hops (1: direct venues only)
    latency_amm_ms: int = 400
    latency_aggregator_ms: int = 1_500
    latency_otc_ms: int = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the variables named below; a bad value is a ValidationError naming its variable."""
        env = os.environ if env is None else env
        return cls(
            jupiter_base_url=_text(env, "JUPITER_BASE_URL", cls.jupiter_base_url).rstrip("/"),
            jupiter_api_key=env.get("JUPITER_API_KEY") or None,
            jupiter_timeout_s=float(_number(env, "JUPITER_TIMEOUT_S", str(cls.jupiter_timeout_s))),
            jupiter_max_rps=float(_number(env, "JUPITER_MAX_RPS", str(cls.jupiter_max_rps))),
            jupiter_enabled=_flag(env, "JUPITER_ENABLED", cls.jupiter_enabled),
            coingecko_url=_text(env, "COINGECKO_URL", cls.coingecko_url).rstrip("/"),
            coingecko_api_key=env.get("COINGECKO_API_KEY") or None,
            kraken_url=_text(env, "KRAKEN_URL", cls.kraken_url).rstrip("/"),
            binance_url=_text(env, "BINANCE_URL", cls.binance_url).rstrip("/"),
            price_timeout_s=float(_number(env, "PRICE_TIMEOUT_S", str(cls.price_timeout_s))),
            price_ttl_s=float(_number(env, "PRICE_TTL_S", str(cls.price_ttl_s))),
            price_failure_ttl_s=float(_number(env, "PRICE_FAILURE_TTL_S", str(cls.price_failure_ttl_s))),
            offline=_flag(env, "SOLROUTE_OFFLINE", cls.offline),
            min_leg_usd=_number(env, "ROUTER_MIN_LEG_USD", str(cls.min_leg_usd)),
            outlier_pct=_number(env, "ROUTER_OUTLIER_PCT", str(cls.outlier_pct)),
            min_gain_bps_per_leg=_number(env, "ROUTER_MIN_GAIN_BPS_PER_LEG", str(cls.min_gain_bps_per_leg)),
            max_hops=_hops(env, "ROUTER_MAX_HOPS", cls.max_hops),
            latency_amm_ms=int(_number(env, "LATENCY_AMM_MS", str(cls.latency_amm_ms))),
            latency_aggregator_ms=int(_number(env, "LATENCY_AGGREGATOR_MS", str(cls.latency_aggregator_ms))),
            latency_otc_ms=int(_number(env, "LATENCY_OTC_MS", str(cls.latency_otc_ms))),
        )


# --- the Flask application's settings -----------------------------------------------------

APP_ENVS = ("development", "production", "testing")
DEV_SECRET_KEY = "solroute-development-only-secret"  # refused outside development and testing
# A production SECRET_KEY signs sessions and firm quotes: anyone who can guess it can forge them.
# `python -c "import secrets; print(secrets.token_urlsafe(32))"` makes one (43 chars, ~5.5 bits/char).
SECRET_MIN_CHARS = 32
SECRET_MIN_DISTINCT = 10
# Shannon entropy of the key's own characters. Not 3.5: random hex keys (token_hex(32)) average
# 3.8 bits/char but dip to 3.48 about once in 20,000; repeated or patterned text scores 0-2.
SECRET_MIN_BITS_PER_CHAR = 3.0
KNOWN_SECRETS = frozenset({DEV_SECRET_KEY, "changeme", "change-me", "secret", "dev", "development"})


def _bits_per_char(text: str) -> float:
    """Shannon entropy of the characters of ``text`` (bits per character; 0 for one repeated char)."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) + 0.0


def check_secret_key(secret: object, app_env: str) -> None:
    """Refuse a known, short or low-entropy SECRET_KEY in production (a ValidationError naming it).

    Development and testing run with any key (the development constant by default).
    """
    if app_env != "production":
        return
    hint = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
    if not isinstance(secret, str | bytes) or not secret:
        raise ValidationError(
            f"SECRET_KEY must be set in production (it signs the web session); {hint}", field="SECRET_KEY"
        )
    text = secret.decode("latin-1") if isinstance(secret, bytes) else secret
    if text in KNOWN_SECRETS or text.strip().lower() in KNOWN_SECRETS:
        problem = "is a published default"
    elif len(text) < SECRET_MIN_CHARS:
        problem = f"is {len(text)} characters long (at least {SECRET_MIN_CHARS} in production)"
    elif len(set(text)) < SECRET_MIN_DISTINCT:
        problem = f"uses only {len(set(text))} distinct characters (at least {SECRET_MIN_DISTINCT})"
    elif len({text[i : i + 3] for i in range(len(text) - 2)}) < 0.75 * (len(text) - 2):
        problem = "repeats itself (fewer than 3/4 of its 3-character runs are distinct)"
    elif (bits := _bits_per_char(text)) < SECRET_MIN_BITS_PER_CHAR:
        problem = f"has {bits:.2f} bits of entropy per character (at least {SECRET_MIN_BITS_PER_CHAR})"
    else:
        return
    raise ValidationError(f"SECRET_KEY {problem}: refused in production; {hint}", field="SECRET_KEY")


def database_url(raw: str | None, instance_path: str) -> str:
    """The SQLAlchemy URL: ``DATABASE_URL`` with the installed PostgreSQL driver, else SQLite.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; we ship psycopg2, and Heroku-style
    ``postgres://`` URLs are not recognised at all, so both are rewritten.
    """
    if raw is None or not raw.strip():
        return f"sqlite:///{os.path.join(instance_path, 'solroute.db')}"
    url = raw.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def _limit(env: Mapping[str, str], name: str, default: str) -> Decimal | None:
    """A risk limit's default: a non-negative number, 0 meaning no limit."""
    value = _number(env, name, default)
    return None if value == 0 else value


def _rate_limits(env: Mapping[str, str], jupiter_max_rps: float) -> dict[str, float]:
    """``VENUE_RATE_LIMITS="jupiter=0.5,orca=20"``: requests per second per venue.

    Jupiter's entry is its one budget (every call: quotes' background curves and execution). It
    is ``JUPITER_MAX_RPS`` unless VENUE_RATE_LIMITS is set; when both are, the lower (0: none).
    """
    raw = env.get("VENUE_RATE_LIMITS")
    if raw is None:
        return {"jupiter": jupiter_max_rps}  # the simulated venues have no limit
    limits = _parse_rate_limits(raw)
    if "JUPITER_MAX_RPS" in env:
        rates = [r for r in (jupiter_max_rps, limits.get("jupiter", 0.0)) if r > 0]
        limits["jupiter"] = min(rates, default=0.0)
    return limits


def _parse_rate_limits(raw: str) -> dict[str, float]:
    limits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValidationError(
                f"environment variable VENUE_RATE_LIMITS has {part!r}; expected venue=per_second",
                field="VENUE_RATE_LIMITS",
            )
        try:
            rate = float(_number({"VENUE_RATE_LIMITS": value}, "VENUE_RATE_LIMITS", "0"))
        except ValidationError as exc:
            raise ValidationError(
                f"environment variable VENUE_RATE_LIMITS has {part!r}: rates must be non-negative numbers",
                field="VENUE_RATE_LIMITS",
            ) from exc
        limits[name.strip().lower()] = rate
    return limits


def _funding(env: Mapping[str, str], name: str, default: str) -> dict[str, str]:
    """``SOL=500,USDC=100000`` as {token: amount} (amounts checked when an account is funded)."""
    funding: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in _text(env, name, default).split(","))):
        token, sep, amount = part.partition("=")
        if not sep or not token.strip() or not amount.strip():
            raise ValidationError(
                f"environment variable {name} has {part!r}; expected TOKEN=amount", field=name
            )
        funding[token.strip().upper()] = amount.strip()
    return funding


def app_config(env: Mapping[str, str] | None = None, *, instance_path: str) -> dict[str, object]:
    """The Flask config mapping read from the environment (``create_app`` layers overrides on top)."""
    env = os.environ if env is None else env
    app_env = _text(env, "SOLROUTE_ENV", "development").lower()
    if app_env not in APP_ENVS:
        raise ValidationError(
            f"environment variable SOLROUTE_ENV={app_env!r} must be one of {', '.join(APP_ENVS)}",
            field="SOLROUTE_ENV",
        )
    secret = env.get("SECRET_KEY", "").strip()
    check_secret_key(secret, app_env)
    secret = secret or DEV_SECRET_KEY
    redis_url = env.get("REDIS_URL", "").strip() or None
    settings = Settings.from_env(env)
    return {
        "SOLROUTE_ENV": app_env,
        "SECRET_KEY": secret,
        # The session cookie only over HTTPS in production (it is HttpOnly and SameSite=Lax always).
        "SESSION_COOKIE_SECURE": _flag(env, "SESSION_COOKIE_SECURE", app_env == "production"),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL"), instance_path),
        "REDIS_URL": redis_url,
        "SOLROUTE_SETTINGS": settings,
        "VENUE_RATE_LIMITS": _rate_limits(env, settings.jupiter_max_rps),
        "VENUE_RATE_LIMIT_WAIT_S": float(_number(env, "VENUE_RATE_LIMIT_WAIT_S", "1")),
        "ORDER_MAX_ATTEMPTS": int(_number(env, "ORDER_MAX_ATTEMPTS", "4")),
        "ORDER_RETRY_BASE_S": float(_number(env, "ORDER_RETRY_BASE_S", "0.5")),
        "ORDER_STALE_AFTER_S": float(_number(env, "ORDER_STALE_AFTER_S", "120")),
        "RECOVERY_INTERVAL_S": float(_number(env, "RECOVERY_INTERVAL_S", "30")),
        # How often resting orders (limit, stop, take-profit) are evaluated against the venues
        # (background.watch_resting, one process per tick under a Redis lock); 0: never.
        "RESTING_ORDERS_TICK_S": float(_number(env, "RESTING_ORDERS_TICK_S", "1")),
        # Market history (background.record_history, where maintenance runs): a live snapshot of
        # prices, pools and desks every HISTORY_INTERVAL_S (0: never), and after trades, but at most
        # one per HISTORY_MIN_GAP_S; live rows older than HISTORY_RETENTION_DAYS are deleted (0: kept).
        "HISTORY_INTERVAL_S": float(_number(env, "HISTORY_INTERVAL_S", "60")),
        "HISTORY_MIN_GAP_S": float(_number(env, "HISTORY_MIN_GAP_S", "10")),
        "HISTORY_RETENTION_DAYS": float(_number(env, "HISTORY_RETENTION_DAYS", "30")),
        "OTC_SETTLEMENT_SCALE": _number(env, "OTC_SETTLEMENT_SCALE", "1"),
        "INPROCESS_WORKERS": int(_number(env, "INPROCESS_WORKERS", "4")),
        # New orders are refused (503, Retry-After) while this many wait to execute; 0: no limit.
        "ORDER_QUEUE_LIMIT": int(_number(env, "ORDER_QUEUE_LIMIT", "500")),
        # New orders go to workers in batch jobs of at most this many; while earlier batch jobs
        # wait for a worker, new ones gather for up to ORDER_BATCH_HOLD_S (executor.OrderDispatcher).
        "ORDER_BATCH_MAX": int(_number(env, "ORDER_BATCH_MAX", "64")),
        "ORDER_BATCH_HOLD_S": float(_number(env, "ORDER_BATCH_HOLD_S", "0.25")),
        # The worker process's niceness: execution yields the CPU to web processes (0: as the shell's).
        "WORKER_NICE": int(_number(env, "WORKER_NICE", "10")),
        # PostgreSQL connections per process: kept open, and beyond them (closed when returned).
        "DB_POOL_SIZE": int(_number(env, "DB_POOL_SIZE", "24")),
        "DB_MAX_OVERFLOW": int(_number(env, "DB_MAX_OVERFLOW", "40")),
        # A pooled PostgreSQL connection idle longer than this (s) is tested before use, and replaced
        # if the server dropped it or restarted; 0 tests every checkout (a round trip per request).
        "DB_PING_IDLE_S": float(_number(env, "DB_PING_IDLE_S", "1")),
        "PRICE_POLL_S": float(_number(env, "PRICE_POLL_S", "15")),
        # Web quotes reuse a snapshot of pools and desks this long (execution always reads afresh).
        "VENUE_CACHE_S": float(_number(env, "VENUE_CACHE_S", "0.1")),
        "JUPITER_CURVE_TTL_S": float(_number(env, "JUPITER_CURVE_TTL_S", "120")),
        # A firm quote's quoteId is good for this long (s): executed within it, its route is kept.
        "QUOTE_TTL_S": float(_number(env, "QUOTE_TTL_S", "15")),
        "DEMO_ACCOUNT": _text(env, "DEMO_ACCOUNT", "demo"),
        # Risk limits of accounts without their own (risk_limits rows); USD, impact in bps; 0: no limit.
        "RISK_MAX_ORDER_USD": _limit(env, "RISK_MAX_ORDER_USD", "1000000"),
        "RISK_MAX_IMPACT_BPS": _limit(env, "RISK_MAX_IMPACT_BPS", "500"),
        "RISK_DAILY_NOTIONAL_USD": _limit(env, "RISK_DAILY_NOTIONAL_USD", "10000000"),
        "RISK_DAILY_LOSS_USD": _limit(env, "RISK_DAILY_LOSS_USD", "250000"),
        # Bots (README "Bots"): how often the in-process scheduler looks for due bots (0: never),
        # how long a runner's lease on a bot lasts, errors in a row that put a bot in state error,
        # and what a new bot's paper account is funded with (token=amount, comma separated).
        "BOT_POLL_S": float(_number(env, "BOT_POLL_S", "1")),
        "BOT_LEASE_S": float(_number(env, "BOT_LEASE_S", "60")),
        "BOT_MAX_ERRORS": max(1, int(_number(env, "BOT_MAX_ERRORS", "5"))),
        "BOT_FUNDING": _funding(env, "BOT_FUNDING", "SOL=500,USDC=100000,USDT=100000,JUP=50000,RAY=25000"),
        # Demo bots (a flow bot and an arbitrage bot) started by ./run.sh; never in production.
        "SOLROUTE_DEMO": app_env != "production" and _flag(env, "SOLROUTE_DEMO", app_env == "development"),
        # Prefix of every Redis name we own: the RQ queue, the Socket.IO channel, rate-limit keys.
        "REDIS_NAMESPACE": _text(env, "REDIS_NAMESPACE", "solroute"),
    }
