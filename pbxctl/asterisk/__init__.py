"""Talking to Asterisk nodes: AMI client, apply (files + reload + verify), event stream."""
