"""Hubtel (Ghana), Programmable Services: everything specific to this aggregator lives here.

- ussd.py: `POST /ussd/hubtel` (JSON -> `Hop` -> JSON reply), and the Release/Timeout notices;
- request.py: the request read strictly, service codes routed to trees, deep dials, the `Hop`;
- reply.py: the JSON reply (`response` waits for input, `release` ends);
- simulator.py: a phone speaking Hubtel's protocol over HTTP, for `flask --app app ussd dial`.
"""
