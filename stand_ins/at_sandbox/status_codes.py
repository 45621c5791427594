"""Africa's Talking's per-recipient `statusCode`s, as the sandbox answers them.

The sandbox plays the provider, so it keeps its own copy of the provider's table rather than
borrowing the gateway's: a mistake in the gateway's reading of the codes then shows up in tests.
"""

STATUS_NAMES: dict[int, str] = {
    100: "Processed",
    101: "Sent",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
ACCEPTED_CODES = frozenset({100, 101, 102})

# The whole body of Africa's Talking's 401 answer (text/plain) to a wrong or missing apiKey.
AUTH_INVALID = "The supplied authentication is invalid"
