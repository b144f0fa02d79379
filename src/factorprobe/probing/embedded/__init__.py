"""The embedded Swish CNN: architecture, training recipe, shipped weights and model card."""
