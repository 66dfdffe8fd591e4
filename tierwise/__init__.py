"""tierwise: size an LLM, place it on the cheapest AWS tier that fits, synthesize the stack."""

__version__ = "0.1.0"
