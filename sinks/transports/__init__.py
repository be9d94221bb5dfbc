"""Transports: the sinks that deliver a Batch (files, Splunk HEC, Security Hub, S3) and their connection helpers."""
