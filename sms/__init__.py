"""SMS channel pieces that need no app: segment counting, templates and the Africa's Talking sender."""
