"""Automated model selection: one adapter around FLAML plus Tesla's own learners."""
