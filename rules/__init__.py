"""The rule catalog and engine: one rule per check, written against the normalized schema."""
