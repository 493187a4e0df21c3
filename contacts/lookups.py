"""`<integer field>__any=[...]`: membership in a list of ids bound as one array parameter.

Django's `__in` renders one placeholder per element and prepares each value through the field,
which for the chunk-sized id lists of the send path (a few hundred ids, many times a second)
costs more than the query itself. On PostgreSQL `__any` binds the whole list once
(`"id" = ANY(%s)`); elsewhere it is an ordinary `IN`. Values must be integers.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db.models import ForeignKey, IntegerField, Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[int]:
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler, connection) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            raise EmptyResultSet
        placeholders = ", ".join(["%s"] * len(values))
        return f"{lhs} IN ({placeholders})", [*lhs_params, *values]


def register() -> None:
    IntegerField.register_lookup(AnyOf)
    ForeignKey.register_lookup(AnyOf)
