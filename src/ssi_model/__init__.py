"""ssi-model: estimate LinkedIn's Social Selling Index, explain it, rank the levers."""

__version__ = "0.1.0"
