"""inception-lab: reproduce and extend the Inception papers."""

__version__ = "0.1.0"
