"""Kernels (filled in by family)."""
from __future__ import annotations
