"""Output formats and delivery."""
