"""Exports: the engine's answers in standard formats for partners' systems (GeoJSON, CAP 1.2, ACLED-shaped CSV)."""
