"""Service modules for ``scripts/services`` (one module per service, helpers in ``common``)."""
