"""The citizen services a menu tree calls by name: register, apply, pay, track, feedback.

`citizen.actions` holds the actions (`Actions`, bound to a core-service client by `create_app`)
and `ACTION_NAMES`; `citizen.queued` the application writes that wait in RQ while the core service
is down; `citizen.texts` the words the actions put on screens.
"""
