"""Who may see analytics: a small pluggable check, so analytics needs no console to run.

`require_operator` asks, in order:
1. `app.extensions["operator_check"]`, if the console installed one: a callable returning None to
   allow or a Response to refuse (the console's login and roles; see console/setup.py);
2. else, when ANALYTICS_TOKEN is set: `Authorization: Bearer <token>`;
3. else: only requests from this machine (127.0.0.1 / ::1).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, jsonify, request

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})


def require_operator(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check = current_app.extensions.get("operator_check")
        if check is not None:
            refusal = check()
            if refusal is not None:
                return refusal
            return view(*args, **kwargs)
        token = current_app.extensions["settings"].analytics_token
        if token:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return jsonify(
                    error="unauthorized", message="send Authorization: Bearer $ANALYTICS_TOKEN"
                ), 401
        elif request.remote_addr not in LOCAL_ADDRESSES:
            return jsonify(error="forbidden", message="set ANALYTICS_TOKEN to allow remote access"), 403
        return view(*args, **kwargs)

    return guarded
