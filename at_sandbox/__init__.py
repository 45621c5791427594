"""A local stand-in for Africa's Talking's SMS API, for development, tests and benchmarks.

`create_app(config=None)` builds the Flask app; `python -m at_sandbox` serves it with granian.
"""

from at_sandbox.app import create_app

__all__ = ["create_app"]
