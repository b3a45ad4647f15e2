"""Read models: what the reports, ``status`` and rendering see of the database (and of
the nodes), apart from the services that change it."""
