"""List sizes and costs published with the schema (Apollo Federation's `@listSize`, `@cost`).

A router's demand control reads them to estimate a document's cost before it plans it;
`subgraph.cost` reads the same directives, so both sides count alike.
"""

from __future__ import annotations

from strawberry.federation.schema_directives import Cost, ListSize

# A connection: `first` items on its `edges`.
PAGE = ListSize(slicing_arguments=["first"], sized_fields=["edges"],
                require_one_slicing_argument=False)
# A list sized by its `first` argument.
SLICED = ListSize(slicing_arguments=["first"], require_one_slicing_argument=False)
# A call to the search cluster rather than a keyed read.
SEARCH_COST = Cost(weight=10)


def assumed(size: int) -> ListSize:
    """A list whose size no argument gives: at most about `size` items."""
    return ListSize(assumed_size=size, require_one_slicing_argument=False)
