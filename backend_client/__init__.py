"""backend_client: the only way the gateway reaches the core service (contract: openapi.yaml).

The client only: it imports nothing of the gateway's other packages. Observability comes through
the `observe` hook `create_app` passes in; the core service's webhooks are received by
gateway/events.py (contract: sms/events.py).

from backend_client import Budget, CoreClient, BackendUnavailable

client = CoreClient()                     # CORE_URL, default http://127.0.0.1:8010
services = client.list_services(budget=Budget(0.4))
"""

from backend_client.breaker import CircuitBreaker
from backend_client.budget import Budget
from backend_client.client import CoreClient, new_idempotency_key
from backend_client.errors import (
    AccountLocked,
    BackendError,
    BackendRejected,
    BackendUnavailable,
    BudgetExhausted,
    CircuitOpen,
    Conflict,
    IdentityMismatch,
    InvalidRequest,
    NotFound,
    WrongPin,
)
from backend_client.models import (
    Application,
    ApplicationPage,
    ApplicationSummary,
    Choice,
    Citizen,
    Department,
    Feedback,
    LocalText,
    Payment,
    Person,
    Service,
    ServiceField,
    StatusChange,
)

__all__ = [
    "AccountLocked",
    "Application",
    "ApplicationPage",
    "ApplicationSummary",
    "BackendError",
    "BackendRejected",
    "BackendUnavailable",
    "Budget",
    "BudgetExhausted",
    "Choice",
    "CircuitBreaker",
    "CircuitOpen",
    "Citizen",
    "Conflict",
    "CoreClient",
    "Department",
    "Feedback",
    "IdentityMismatch",
    "InvalidRequest",
    "LocalText",
    "NotFound",
    "Payment",
    "Person",
    "Service",
    "ServiceField",
    "StatusChange",
    "WrongPin",
    "new_idempotency_key",
]
