"""Africa's Talking: USSD callbacks and session-end events (the reference adapter)."""
