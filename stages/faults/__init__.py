"""Faults under load: injection (local processes, or a cluster through kubectl) and recovery figures."""
