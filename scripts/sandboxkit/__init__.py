"""The sandbox Asterisk, SIPp phones and carriers, and pbxctl processes, as the demo and
the tests drive them (one helper module for both; not part of the pbxctl package)."""
