"""Enclave: run language models locally, privately."""

__version__ = "0.1.0"
