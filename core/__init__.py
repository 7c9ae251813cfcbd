"""The bottom layer: settings and small helpers every package may import.

Imports nothing of the project.
"""
