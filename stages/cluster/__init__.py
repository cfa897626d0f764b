"""Load tests in a Kubernetes cluster: a fresh Deployment per run, the generator as an Indexed Job."""
