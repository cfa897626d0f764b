"""Experiments that serve the Bentos and send them load: the paired load test and faults under load."""
