"""The citizen services a menu tree calls by name: register, apply, pay, track, feedback.

`citizen.registry` holds the action registry and the hop's context; `citizen.actions` the actions
themselves; `citizen.queued` the application writes that wait in RQ while the core service is down.
"""
