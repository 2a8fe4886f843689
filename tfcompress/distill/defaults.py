"""Distillation defaults, chosen by measurement in ``benchmarks/distill.py`` (see the README table)."""

TEMPERATURE = 4.0
ALPHA = 0.1
LOSS = "kl"
