// The console's one road to /api/v1: JSON in and out, the page's CSRF token on every call, the
// calling button disabled (and marked busy) until the answer arrives, and an expired login
// reported once, to the page, never inside whatever panel made the call.

export class Api {
  constructor(base, csrf, onExpired) {
    this.base = base;
    this.csrf = csrf;
    this.onExpired = onExpired;
    this.pending = 0;
  }

  // Returns {status, data}; status 0 when the server could not be reached.
  async call(method, path, body, { busy, busyText } = {}) {
    const buttons = busy ? [].concat(busy).filter(Boolean) : [];
    const labels = buttons.map((b) => b.textContent);
    for (const button of buttons) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (busyText) button.textContent = busyText;
    }
    this.pending += 1;
    document.body.dataset.pending = String(this.pending);
    try {
      let response;
      try {
        response = await fetch(this.base + path, {
          method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrf },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (_) {
        return { status: 0, data: { error: "offline", message: "The server did not answer. Check your connection and try again." } };
      }
      let data = {};
      try {
        data = await response.json();
      } catch (_) {
        data = { message: "unexpected reply from the server (HTTP " + response.status + ")" };
      }
      if (response.status === 401 || (response.status === 403 && data.error === "csrf")) {
        this.onExpired();
        data = { error: "expired", message: "Your login has expired." };
      }
      return { status: response.status, data };
    } finally {
      this.pending -= 1;
      document.body.dataset.pending = String(this.pending);
      buttons.forEach((button, i) => {
        button.removeAttribute("aria-busy");
        if (busyText) button.textContent = labels[i];
        button.disabled = button.dataset.locked === "yes";
      });
    }
  }

  // After logging in again in another tab: pick up the new session's CSRF token.
  async refresh() {
    const response = await fetch("/api/v1/session", { credentials: "same-origin" });
    if (response.status !== 200) return false;
    const data = await response.json();
    this.csrf = data.csrf_token;
    return true;
  }
}
