"""The pieces every payload module uses: formatting of amounts, decimals and times, the
``_Out`` base every model builds itself with, shared field types, and the error body.

Names with a leading underscore are the package's own: its modules share them; outside it, only
bench/payloads.py reaches one (``payloads._Out``, to time ``make`` against ``model_construct``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self, overload

from pydantic import BaseModel, ConfigDict, Field

from tokens import format_amount, from_base_units, get_token

if TYPE_CHECKING:
    from analytics import Window as AnalyticsWindow

# --- formatting ----------------------------------------------------------------------------------


def amount_str(symbol: str, units: int | None) -> str | None:
    """Base units as an exact decimal string in token units ("1234.5", never an exponent)."""
    return None if units is None else format_amount(symbol, units)


def decimal_str(value: Decimal | str | None, places: int | None = None) -> str | None:
    """A Decimal as plain text, optionally rounded to ``places`` (display only, not money)."""
    if value is None:
        return None
    d = Decimal(value)
    if places is not None:
        d = d.quantize(Decimal(1).scaleb(-places))
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


def spot_price_str(token_a: str, token_b: str, reserve_a: int, reserve_b: int) -> str:
    """A pool's spot price, tokenB per tokenA in token units (28 significant digits)."""
    with localcontext() as ctx:
        ctx.prec = 28
        price = _human(token_b, reserve_b) / _human(token_a, reserve_a)
    return f"{price.normalize():f}"


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
    str, Field(pattern=r"^-?\d+(\.\d+)?$", description="Exact decimal as a string", examples=["150.25"])
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
