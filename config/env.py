"""Strict reading of environment variables for the settings modules.

django-environ casts leniently: `DEBUG=maybe` silently becomes False and `int("abc")` surfaces as
a bare ValueError that does not say which variable was wrong. `StrictEnv` keeps django-environ's
interface (and its `Set the X environment variable` message for a missing one) but refuses any
value it cannot read exactly, with an ImproperlyConfigured error that names the variable, so
start-up stops with one clear line (see config/startup.py).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Collection
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import environ
from babel.core import get_global
from babel.numbers import get_territory_currencies
from django.core.exceptions import ImproperlyConfigured

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_ABSENT = object()
# The periods DRF's throttles read (only the first letter counts there, so be strict here).
_RATE_PERIODS = frozenset({"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"})
# The URL schemes django-environ maps to the two database engines Tidings supports.
DATABASE_SCHEMES = frozenset({"postgres", "postgresql", "pgsql", "sqlite"})
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}$")
_RATES_EXAMPLE = '{"currency": "USD", "marketing": 0.025, "utility": 0.004}'


class StrictEnv(environ.Env):
    """`environ.Env` whose numbers, booleans and URLs are checked, each error naming its variable.

    Defaults are returned as given (they are ours, not the operator's); only values actually read
    from the environment are checked.
    """

    def _raw(self, var: str, default: Any) -> Any:
        """The variable's text, stripped; `_ABSENT` when it is unset and a default exists."""
        value = self.get_value(
            var, cast=str, default=_ABSENT if default is not self.NOTSET else default
        )
        if value is _ABSENT:
            return _ABSENT
        return str(value).strip()

    def bool(self, var: str, default: Any = environ.Env.NOTSET) -> bool:
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        word = raw.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ImproperlyConfigured(f"{var} must be true or false, not {raw!r}")

    def int(
        self,
        var: str,
        default: Any = environ.Env.NOTSET,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{var} must be a whole number, not {raw!r}") from None
        _check_range(var, value, minimum, maximum)
        return value

    def float(
        self,
        var: str,
        default: Any = environ.Env.NOTSET,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ImproperlyConfigured(f"{var} must be a number, not {raw!r}") from None
        if not math.isfinite(value):
            raise ImproperlyConfigured(f"{var} must be a finite number, not {raw!r}")
        _check_range(var, value, minimum, maximum)
        return value

    def rate(self, var: str, default: Any = environ.Env.NOTSET) -> float:
        """A share between 0 and 1 (0.05 = 5 %)."""
        return self.float(var, default, minimum=0.0, maximum=1.0)

    def nonempty_str(self, var: str, default: Any = environ.Env.NOTSET) -> str:
        """A string that must not be blank when it is set."""
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        if not raw:
            raise ImproperlyConfigured(f"{var} is set but empty")
        return raw

    def web_url(
        self,
        var: str,
        default: Any = environ.Env.NOTSET,
        *,
        schemes: Collection[str] = ("http", "https"),
        allow_empty: bool = False,
    ) -> str:
        """An absolute URL with one of `schemes` and a host (empty only when `allow_empty`)."""
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        if not raw and allow_empty:
            return raw
        check_url(var, raw, schemes)
        return raw

    def message_rates(self, var: str, default: Any = environ.Env.NOTSET) -> dict[str, Any]:
        """A rate table: a JSON object with an ISO 4217 `currency` and, for each pricing category,
        a price of at least 0 (``{"currency": "USD", "marketing": 0.025}``). Prices are read
        as exact decimals, never through binary floats."""
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        if not raw:
            raise ImproperlyConfigured(f"{var} is set but empty")

        def refuse_constant(name: str) -> None:
            raise ImproperlyConfigured(f"{var} must hold plain numbers, not {name}")

        try:
            table = json.loads(
                raw, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse_constant
            )
        except ValueError as error:
            raise ImproperlyConfigured(f"{var} must be a JSON object: {error}") from None
        if not isinstance(table, dict):
            raise ImproperlyConfigured(f"{var} must be a JSON object such as {_RATES_EXAMPLE}")
        currency = table.pop("currency", None)
        if not isinstance(currency, str) or not is_iso_currency(currency):
            raise ImproperlyConfigured(
                f'{var} needs a "currency": a three-letter ISO 4217 code such as "USD"'
            )
        rates: dict[str, Any] = {"currency": currency.upper()}
        for category, price in table.items():
            if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
                raise ImproperlyConfigured(
                    f"{var}: the rate of {category!r} must be a number of at least 0, "
                    f"not {price if isinstance(price, Decimal) else json.dumps(price)}"
                )
            rates[category.strip().lower().replace("-", "_")] = price
        return rates

    def request_rate(self, var: str, default: Any = environ.Env.NOTSET) -> str | None:
        """A request rate such as ``600/minute`` (DRF's throttle format: a count, a slash and
        second, minute, hour or day); ``off`` or empty disables the limit (None)."""
        raw = self._raw(var, default)
        if raw is _ABSENT:
            return default
        if raw.lower() in {"", "off", "none"}:
            return None
        count, _, period = raw.partition("/")
        if not count.isdigit() or int(count) < 1 or period.lower() not in _RATE_PERIODS:
            raise ImproperlyConfigured(
                f"{var} must be a rate such as 600/minute (per second, minute, hour or day) "
                f"or off, not {raw!r}"
            )
        return f"{int(count)}/{period.lower()}"

    def database(self, var: str, default: str) -> dict[str, Any]:
        """Django's DATABASES entry for a postgres:// or sqlite:/// URL that names a database.

        The URL is never echoed in an error: it usually carries a password.
        """
        raw = self._raw(var, default)
        url = default if raw is _ABSENT else raw
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in DATABASE_SCHEMES:
            raise ImproperlyConfigured(
                f"{var} must be a postgres://user:password@host:5432/name or "
                f"sqlite:///path/to/file.sqlite3 URL (got scheme {scheme or 'none'!r})"
            )
        try:
            config = self.db_url_config(url)
        except ValueError as error:
            raise ImproperlyConfigured(f"{var} is malformed: {error}") from None
        if config.get("NAME") in (None, "", ":memory:"):
            raise ImproperlyConfigured(
                f"{var} must name a database (the path after the host, or the SQLite file)"
            )
        return config


def is_iso_currency(code: str) -> bool:
    """True for a three-letter ISO 4217 code in current use somewhere (``EUR``, ``usd``)."""
    return bool(_CURRENCY_CODE.match(code)) and code.upper() in _current_currencies()


@lru_cache(maxsize=1)
def _current_currencies() -> frozenset[str]:
    # CLDR's list includes withdrawn codes (ADP, DEM) and the test code XTS; what some territory
    # uses as tender today is what an order can be paid in.
    today = dt.date.today()  # noqa: DTZ011 - a calendar date is all CLDR's ranges need
    return frozenset(
        code
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, today, tender=True)
    )


def check_url(var: str, value: str, schemes: Collection[str]) -> None:
    """Raise ImproperlyConfigured unless `value` is `<scheme>://<host>...` with a known scheme."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes or not parts.hostname:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ImproperlyConfigured(f"{var} must be a {wanted} URL with a host, not {value!r}")


def _check_range(var: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{var} must be between {minimum} and {maximum}, not {value}")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{var} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{var} must be at most {maximum}, not {value}")
