"""ONNX import: rnn ops (see ops.py for the table and its conventions)."""

from __future__ import annotations
