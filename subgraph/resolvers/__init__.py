"""Thin resolvers: read arguments, check limits, call a loader or an abstraction."""
