"""The corpus: every case, by category, each name unique."""

from __future__ import annotations

from ..cases import Case
from . import documents, domain, strings, transport

CORPUS: list[Case] = [*transport.CASES, *documents.CASES, *domain.CASES, *strings.CASES]
