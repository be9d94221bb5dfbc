"""Output formats: a Finding as OCSF (the contract's wire format), ASFF and Parquet. Pure functions."""
