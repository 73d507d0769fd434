"""Benchmarks: accuracy studies (``accuracy/``) and speed and scale probes (``speed/``); run each as
``python -m benchmarks.<kind>.<name>`` from the repository root.  Results go to ``results/*.json``."""
