"""Demo mode: local fake cloud APIs and the sample estates they serve."""
