"""A local stand-in for Africa's Talking's SMS API, for development, tests and benchmarks.

`create_app(config=None)` builds the Flask app; `python -m stand_ins.at_sandbox` serves it with granian.
"""

from stand_ins.at_sandbox.app import create_app

__all__ = ["create_app"]
