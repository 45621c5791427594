"""The SMS channel: outbox (SQL, then RQ), worker and sweeper, templates and segments, inbound
commands, delivery reports and the core service's events. Provider-neutral: a provider's adapter
implements `sms.sending.SmsSender` (Africa's Talking's is gateway/africastalking/sender.py)."""
