"""The only road from the gateway to the core service backend."""
