"""Arkesel (Ghana): everything specific to this aggregator lives here.

- ussd.py: `POST /ussd/arkesel` (JSON -> `Hop` -> JSON reply with the ids echoed);
- request.py: the request read strictly, deep dials, the `Hop`;
- replay.py: retries told from a repeated key press by time (Arkesel numbers nothing);
- reply.py: the JSON reply (`continueSession` true waits for input, false ends);
- simulator.py: a phone speaking Arkesel's protocol over HTTP, for `flask --app app ussd dial`.
"""
