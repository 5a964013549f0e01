"""Orchestration: the run settings, ``evaluate`` as a loop over the stages, and ``batch`` with its executors."""
