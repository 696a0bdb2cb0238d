"""ECG RepBench: which ECG input representation and architecture to use, and what it costs."""
__version__ = "0.1.0"
