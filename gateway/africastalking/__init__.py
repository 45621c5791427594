"""Africa's Talking, the reference adapter: everything specific to this aggregator lives here.

- ussd.py: `POST /ussd/africastalking` (form -> `Hop` -> `CON …`/`END …`; the cumulative `text`
  turned into this hop's inputs and a keyed replay key) and session-end events;
- sms_callbacks.py: delivery reports and inbound SMS;
- sender.py, status_codes.py: sending SMS through the official SDK (`sms.sending.SmsSender`);
- forms.py: strict reading of the form posts.
"""
