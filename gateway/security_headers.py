"""Security headers on every response of the gateway: console pages, APIs and callbacks alike.

- `Content-Security-Policy`: scripts, styles, images and connections from this origin only (styles
  may be inline: the analytics pages colour cells with a `style` attribute); no plugins; forms post
  back here only; `frame-ancestors 'none'` (and `X-Frame-Options: DENY` for older browsers): the
  console cannot be framed, so no click-jacking;
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` (console URLs name trees and
  versions), `Cross-Origin-Opener-Policy: same-origin`, a `Permissions-Policy` that turns off
  camera, microphone and location;
- `Strict-Transport-Security` in production (the gateway is then only reached over HTTPS).

A header a view set itself is left as it is.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(*, hsts: bool) -> dict[str, str]:
    """The headers above, by name; `hsts` adds Strict-Transport-Security. The callback lane
    (gateway/lane.py) sends these too, since its answers never pass through Flask."""
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def add_security_headers(app: Flask, *, hsts: bool) -> None:
    """Add the headers above to every response of `app`; `hsts` adds Strict-Transport-Security."""
    headers = security_headers(hsts=hsts)

    @app.after_request
    def secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
