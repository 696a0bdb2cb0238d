"""Representation axis: how an ECG is fed to a model. One module per representation, registered by decorator."""
from representations.base import REPRESENTATIONS, Representation, register_representation

__all__ = ["REPRESENTATIONS", "Representation", "register_representation"]
