"""ssi-model: estimate LinkedIn's Social Selling Index, explain it, rank the levers that raise it."""

__version__ = "0.1.0"
