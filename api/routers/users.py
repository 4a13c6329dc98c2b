"""Users and API keys (admins), and who am I (anyone signed in)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlmodel import col, select

from api.deps import Admin, CurrentUser, EngineDep, IdempotencyDep, SessionDep
from api.errors import error_responses
from api.schemas_admin import UserCreated, UserCreateIn, UserOut
from foundation.users import User, create_user

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    status_code=201,
    summary="Create a user",
    description="Returns the new API key once; it is stored only as a hash. With an "
    "Idempotency-Key, a repeat returns the user with `api_key: null`.",
    responses=error_responses(401, 403, 409, 422),
)
def create(body: UserCreateIn, user: Admin, engine: EngineDep, idem: IdempotencyDep) -> UserCreated:
    def make() -> UserCreated:
        created, key = create_user(engine, body.name, body.role)
        return UserCreated(**UserOut.model_validate(created).model_dump(), api_key=key)

    return idem.run(body, UserCreated, make, redact=("api_key",))


@router.get("", summary="List users", responses=error_responses(401, 403))
def list_users(user: Admin, session: SessionDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in session.exec(select(User).order_by(col(User.name)))]


@router.get("/me", summary="Who am I", responses=error_responses(401))
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
