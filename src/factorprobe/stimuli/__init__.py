"""stimuli (under construction)."""
