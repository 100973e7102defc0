"""Utilities around training: ``ember.utils.tensorboard`` (event files for TensorBoard).

Subpackages are imported on use, so ``import ember`` does not pay for them.
"""
