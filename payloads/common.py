"""The pieces every payload module uses: formatting of amounts, decimals and times, the
``_Out`` base every model builds itself with, shared field types, and the error body.

Names with a leading underscore are the package's own: its modules share them; outside it, only
bench/payloads.py reaches one (``payloads._Out``, to time ``make`` against ``model_construct``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, overload

from pydantic import BaseModel, ConfigDict, Field

from tokens import format_amount, from_base_units, get_token

if TYPE_CHECKING:
    from analytics import Window as AnalyticsWindow

# --- formatting ----------------------------------------------------------------------------------


def amount_str(symbol: str, units: int | None) -> str | None:
    """Base units as an exact decimal string in token units ("1234.5", never an exponent)."""
    return None if units is None else format_amount(symbol, units)


# Prices and ratios leave us rounded to this many significant digits: a price is a measurement, and
# "150.000000000000625000000000015625" (a division at 28 digits) only hides the figure. Amounts are
# never rounded (amount_str); bps and USD figures with a fixed number of places pass ``places``.
PRICE_DIGITS = 12


def significant(value: Decimal, digits: int = PRICE_DIGITS) -> Decimal:
    """``value`` rounded half-even to ``digits`` significant digits, trailing zeros dropped."""
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_HALF_EVEN
        return (+value).normalize()


def decimal_str(value: Decimal | str | float | None, places: int | None = None) -> str | None:
    """A Decimal as plain text (never an exponent), for display, not money: rounded to ``places``
    decimal places when given, else to PRICE_DIGITS significant digits (prices, ratios)."""
    if value is None:
        return None
    d = value if isinstance(value, Decimal) else Decimal(str(value) if isinstance(value, float) else value)
    d = d.quantize(Decimal(1).scaleb(-places)) if places is not None else significant(d)
    return f"{d:f}"


@overload
def iso(at: datetime) -> str: ...
@overload
def iso(at: None) -> None: ...
def iso(at: datetime | None) -> str | None:
    """A UTC datetime as ISO 8601 with a Z."""
    if at is None:
        return None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


def epoch_iso(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC."""
    return None if seconds is None else iso(datetime.fromtimestamp(seconds, UTC))


def _human(symbol: str, units: int) -> Decimal:
    return from_base_units(get_token(symbol), units)


def ratio_str(numerator: Decimal, denominator: Decimal) -> str | None:
    """numerator / denominator to PRICE_DIGITS significant digits (None when the denominator is 0)."""
    if denominator.is_zero():
        return None
    with localcontext() as ctx:
        ctx.prec = 28
        ratio = numerator / denominator
    return decimal_str(ratio)


def spot_price_str(token_a: str, token_b: str, reserve_a: int, reserve_b: int) -> str:
    """A pool's spot price, tokenB per tokenA in token units (PRICE_DIGITS significant digits)."""
    price = ratio_str(_human(token_b, reserve_b), _human(token_a, reserve_a))
    assert price is not None, "a pool's reserves are never empty"
    return price


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


# --- shared pieces -------------------------------------------------------------------------------


_set = object.__setattr__  # as pydantic's own model_construct sets a model's slots


class _Out(BaseModel):
    """A JSON object we send: exactly these keys (a new key must be declared here first)."""

    model_config = ConfigDict(extra="forbid")

    field_names: ClassVar[tuple[str, ...]] = ()
    required_names: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.field_names = tuple(cls.__pydantic_fields__)
        cls.required_names = frozenset(n for n, f in cls.__pydantic_fields__.items() if f.is_required())

    @classmethod
    def make(cls, **values: Any) -> Self:
        """The model holding ``values`` (ours, trusted): field names are checked, values are not.

        Cheaper than pydantic's ``model_construct`` (bench/payloads.py), which loops over every
        field in Python; a quote response holds some thirty of these objects. A field left out
        holds its default but is absent from the JSON (``share`` of a second-hop leg).
        """
        given = set(values)
        if tuple(values) != cls.field_names:  # not every field in declared order (the JSON's order)
            unknown, missing = given.difference(cls.field_names), cls.required_names - given
            if unknown or missing:
                raise TypeError(f"{cls.__name__}: unknown {sorted(unknown)}, missing {sorted(missing)}")
            values = {
                name: values[name]
                if name in given
                else cls.__pydantic_fields__[name].get_default(call_default_factory=True)
                for name in cls.field_names
            }
        model = cls.__new__(cls)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", given)
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values: keys by alias (``from``), only the fields the builder set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


Amount = Annotated[
    str,
    Field(
        pattern=r"^\d+(\.\d+)?$",
        description="Exact amount in token units (decimal string, never an exponent)",
        examples=["12.5"],
    ),
]
DecimalText = Annotated[
    str,
    Field(
        pattern=r"^-?\d+(\.\d+)?$",
        description=(
            f"Decimal as a string, never an exponent. Prices and ratios are rounded half-even to "
            f"{PRICE_DIGITS} significant digits (trailing zeros dropped); basis points and USD "
            f"figures to the fixed places their field states. Amounts are Amount, always exact."
        ),
        examples=["150.25"],
    ),
]
Timestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$",
        description="ISO 8601, UTC",
        examples=["2026-11-21T06:22:00.123456Z"],
    ),
]
Kind = Literal["amm", "otc", "aggregator"]
OrderStatusName = Literal[
    "pending",
    "quoting",
    "routing",
    "building",
    "submitted",
    "confirmed",
    "failed",
    "open",
    "working",
    "cancelled",
    "expired",
]
PHASES = ("quoting", "routing", "building", "submitted", "confirmed", "failed", "cancelled", "expired")


class Window(_Out):
    from_: Timestamp | None = Field(alias="from")
    to: Timestamp | None

    @classmethod
    def of(cls, window: AnalyticsWindow) -> Self:
        return cls.make(from_=iso(window.start), to=iso(window.end))


# --- errors --------------------------------------------------------------------------------------


class ErrorDetail(_Out):
    code: str = Field(description="Machine-readable reason, e.g. invalid_input, unknown_token, no_route")
    message: str = Field(description="What was wrong, with the offending value")
    field: str | None = Field(description="The request field, parameter or header at fault (null: none)")
    details: dict[str, str] | None = Field(
        default=None,
        description="The figures behind the message, when it has some (amounts in token units, ISO 8601 "
        "times): e.g. bestAmountOut of min_amount_out_unreachable, expiredAt and now of quote_expired",
    )


class ErrorResponse(_Out):
    """Every failure: a 4xx (or 503 when a dependency is down), never a traceback."""

    error: ErrorDetail


def error_schema() -> dict[str, Any]:
    """The JSON schema of every error body."""
    return ErrorResponse.model_json_schema(ref_template="#/$defs/{model}")
