"""The company as a file: its schema, its YAML form, and plans between two versions of it
(pure; the service that reads and changes the database is ``services/company.py``)."""
