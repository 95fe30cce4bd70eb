"""A deployment's own extraction schema, to prove EXTRACTION_SCHEMA needs no change to our code."""
from pydantic import BaseModel, Field


class ViewingRequest(BaseModel):
    wants_viewing: bool | None = Field(default=None, description="Whether the client asked to visit a flat.")
    preferred_day: str | None = Field(default=None, description="The day the client prefers for the visit.")


class NotAModel:
    pass
