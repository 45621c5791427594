"""USSD session state in Redis: TTLs, the per-session lock, replay of repeated hops, resume drafts."""
