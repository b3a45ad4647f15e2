"""Voicemail to e-mail: the mail of a new message (pure), its outbox, and serve's delivery."""
