"""Thin entry points: train (Hydra), evaluate (Hydra), report and models (argparse)."""
