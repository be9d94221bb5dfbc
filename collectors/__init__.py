"""Cloud collectors: talk to the clouds with their official SDKs, read-only."""
