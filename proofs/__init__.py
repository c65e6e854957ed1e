"""Executable SymPy proofs, one claim per script; run them with ``linflow prove``.

Installed wheels carry these scripts as ``linflow/_proofs/``.
"""
