"""Model axis: one module per architecture, registered by decorator."""
from models.base import MODELS, register_model

__all__ = ["MODELS", "register_model"]
