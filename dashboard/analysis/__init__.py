"""Analyses: one module per question, pure functions over a Session. No Flask here."""
