"""Kubernetes manifests of the served Bento, rendered from params.yaml and validated against pinned schemas."""
