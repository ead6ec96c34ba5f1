"""The namespaces field: the control plane, read-only."""

from __future__ import annotations

from dataclasses import fields

import strawberry

from abstractions.relational_schema import Table
from subgraph.schema import namespaces as ns_types

from .common import context


def namespaces(info: strawberry.Info) -> list[ns_types.Namespace]:
    out = []
    for ns in context(info).gateway.readable_namespaces():
        settings = [
            ns_types.NamespaceSetting(key=f.name, text=_text(getattr(ns, f.name)))
            for f in fields(ns)
            if f.name not in ("name", "abstraction")
        ]
        out.append(
            ns_types.Namespace(
                name=ns.name, abstraction=ns_types.Abstraction(ns.abstraction), settings=settings
            )
        )
    return out


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) and all(isinstance(v, Table) for v in value.values()):
        return "; ".join(
            f"{t.name}({', '.join(c.name + ' ' + c.type for c in t.columns)}; "
            f"key {', '.join(t.primary_key)})"
            for t in value.values()
        )
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)
