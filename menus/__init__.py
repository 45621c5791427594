"""Menu trees as data and the pure engine that walks them.

Nothing in this package imports Flask, Redis, HTTP clients or `gateway/`: a tree plus a session
state plus an input gives a screen, so every tree can be tested and simulated anywhere.
"""
