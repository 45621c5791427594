"""Stand-ins for outside systems, for `make run` and the tests: never part of a production deploy.

- `stand_ins.core_service`: the reference core service (the eCitizen backend's API).
- `stand_ins.at_sandbox`: a local Africa's Talking SMS sandbox.
"""
