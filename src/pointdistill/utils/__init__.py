"""Neutral utilities every layer may use: schedules, mixed precision and global-batch collectives.

Nothing here imports another pointdistill package (``errors`` aside), so ops, data, models, losses, methods,
training and evaluation can all depend on it without bending the one-way order of the layers.
"""
