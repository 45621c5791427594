"""Africa's Talking per-recipient `statusCode`s and how a sender should treat each."""

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
TRANSIENT_CODES = frozenset({500, 501, 502})
PERMANENT_CODES = frozenset({401, 402, 403, 404, 405, 406, 407, 409})

# The whole body of Africa's Talking's 401 answer (text/plain) to a wrong or missing apiKey.
AUTH_INVALID = "The supplied authentication is invalid"
