"""Alembic's environment for the store: migrations run on the connection ``tesla.store.migrations`` hands in.

For a developer writing a revision: ``alembic -c tesla/store/migrations/alembic.ini revision -m "..."``
against a scratch database (``sqlalchemy.url`` in that file); Tesla itself never reads an ini file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from tesla.store.metadata import METADATA

connection = context.config.attributes.get("connection")
if connection is None:  # the alembic CLI, from alembic.ini's URL
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
