"""probing (under construction)."""
