"""Money, and every other decimal, as agents read them: one printed form each, written once.

Money is Decimal end to end and NUMERIC(18, 4) in the database, so a value read from a column
carries four places ("280.0000") unless a query rounds it. Agents get one form instead:

- an amount is printed at its currency's minor unit (ISO 4217: USD "381.06", JPY "1200", KWD
  "1.500"), with more places only when it has them (a unit price of 0.125 USD), the form
  `bizctx export` writes too;
- any other decimal (a quantity, a percentage, a KPI that is not money) is printed as it is,
  without trailing zeros ("1.5", "20", "8.875").

Output models mark their amounts, `price: Amount`; an amount's currency is its model's
`currency` field, or the nearest enclosing model's (an invoice's lines are in the invoice's
currency). `Annotated[Decimal, Money("target_unit")]` names another field (a goal's target is
money when its unit is a currency). An amount whose currency is null or not a currency code is
a plain decimal. The guard's `shape` applies this to every tool's and resource's result;
handlers that put an amount in a message or an error's details use `printed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

# ISO 4217 minor units, as migration 0004's currency_minor_unit() has them (a test holds the
# two together): 2 for any currency not listed.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV")
        + ("XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Money:
    """Marks an output field as an amount in the currency that `currency` names (a field of its
    model or of an enclosing one)."""

    currency: str = "currency"


Amount = Annotated[Decimal, Money()]


def minor_unit(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def is_currency(value: object) -> bool:
    return isinstance(value, str) and _CURRENCY.match(value) is not None


def printed(amount: Decimal, currency: str | None) -> str:
    """An amount as agents read it: at the currency's minor unit, more places only when it has
    them; a plain decimal when `currency` is not a currency code."""
    if not is_currency(currency):
        return plain(amount)
    assert currency is not None
    places = max(minor_unit(currency), _places(amount))
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")


def plain(value: Decimal) -> str:
    """A decimal that is not money, without trailing zeros: "1.5", "20", never "2E+1"."""
    return format(value.quantize(Decimal(1).scaleb(-_places(value))), "f")


def _places(value: Decimal) -> int:
    """How many decimal places `value` needs (none for 280.0000)."""
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)
