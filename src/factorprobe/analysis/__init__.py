"""analysis (under construction)."""
