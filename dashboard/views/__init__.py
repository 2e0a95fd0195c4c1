"""Blueprints. Each module exposes ``bp``; ``create_app`` registers them explicitly."""
