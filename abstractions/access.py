"""Who is asking: the Caller a request carries into the abstractions.

The HTTP layer turns a verified token into a `Caller` (subgraph/auth.py); the abstractions decide
from it and the namespace's policy whether it may read or write (`Access`, below).  A Caller
holds only what the token granted: its scopes (the standard `scope` claim) and the profiles it
owns (the `profile_ids` claim).
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_SCOPE = "gateway:admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity and grants of one request.

    `unrestricted`: the server runs without authentication (`--auth none`, loopback only), so
    every public namespace is open to it, as before access control existed.  Internal
    namespaces stay unreachable whoever asks.
    """

    subject: str | None = None
    scopes: frozenset[str] = frozenset()
    profile_ids: frozenset[str] = frozenset()
    authenticated: bool = False
    unrestricted: bool = False

    @classmethod
    def unchecked(cls) -> Caller:
        """The caller of a server running without authentication."""
        return cls(authenticated=False, unrestricted=True)

    @classmethod
    def anonymous(cls) -> Caller:
        """A request without a token: it may reach only what is public (the SDL)."""
        return cls()

    @classmethod
    def from_claims(cls, claims: dict[str, object]) -> Caller:
        """The Caller of verified token claims: `sub`, `scope` (space-separated) and
        `profile_ids` (array of strings); claims of another shape grant nothing."""
        scope = claims.get("scope")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        owned = claims.get("profile_ids")
        profile_ids = (
            frozenset(p for p in owned if isinstance(p, str))
            if isinstance(owned, list) else frozenset()
        )
        subject = claims.get("sub")
        return cls(
            subject=subject if isinstance(subject, str) else None,
            scopes=scopes,
            profile_ids=profile_ids,
            authenticated=True,
        )

    @property
    def admin(self) -> bool:
        return self.unrestricted or ADMIN_SCOPE in self.scopes
