"""Detections: declarative objects like rules, evaluated over normalized audit events instead of assets."""
