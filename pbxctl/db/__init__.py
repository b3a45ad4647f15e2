"""Database: models, sessions and the Alembic migrations that create the schema."""
