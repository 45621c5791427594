"""Reference core service: the eCitizen back end the gateway talks to (contract in
backend_client/openapi.yaml)."""

from stand_ins.core_service.app import create_app

__all__ = ["create_app"]
