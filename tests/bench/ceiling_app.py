"""The ceiling for intake: a bare FastAPI endpoint that validates a registration-shaped body
and inserts one row and one outbox row in one transaction, on the database dealreg uses in the
same run. No authentication, no idempotency, no events. (After ``shared/tools/ceiling_app.py``,
the outside probe the issue measured with, so the two agree.)

    DATABASE_URL=sqlite+aiosqlite:///ceiling.db .venv/bin/uvicorn tests.bench.ceiling_app:app
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, MetaData, String, Table, Text, event
from sqlalchemy.ext.asyncio import create_async_engine

URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///ceiling.db")
engine = create_async_engine(URL)
if URL.startswith("sqlite"):

    @event.listens_for(engine.sync_engine, "connect")
    def _wal(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")


meta = MetaData()
rows = Table(
    "registrations", meta, Column("id", String(36), primary_key=True), Column("body", Text)
)
outbox = Table("outbox", meta, Column("id", String(36), primary_key=True), Column("event", Text))


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    domain: str | None = None
    country: str


class Amount(BaseModel):
    value: Decimal
    currency: str


class Contact(BaseModel):
    name: str
    email: str


class Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    product_line: str
    deal_type: str
    amount: Amount
    expected_close_date: date
    contact: Contact | None = None


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(meta.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/registrations", status_code=202)
async def register(body: Registration) -> dict[str, str]:
    registration_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        await connection.execute(
            rows.insert().values(id=registration_id, body=body.model_dump_json())
        )
        await connection.execute(
            outbox.insert().values(id=str(uuid.uuid4()), event=json.dumps({"id": registration_id}))
        )
    return {"id": registration_id, "status": "submitted"}
