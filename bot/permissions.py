"""Permissions, in one place: by role (admin can do what an agent can) and by organisation
(customers see only their own organisation's tickets, plans and balances)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.desk.domain import Role
from bot.desk.errors import NotFound, PermissionDenied, UserError
from bot.desk.settings import Settings
from bot.identity import Caller


def role_allows(roles: Iterable[Role], role: Role) -> bool:
    roles = set(roles)
    if role in roles:
        return True
    return role is Role.ADMIN and Role.AGENT in roles


def can_see_org(caller: Caller, org: str) -> bool:
    return caller.is_staff or caller.org == org


def can_see_ticket(caller: Caller, ticket_org: str, opened_by: str | None) -> bool:
    """Staff: every ticket. Customers: their organisation's, and a `default_org` customer
    (strangers share that org) only the tickets they opened themselves."""
    if not can_see_org(caller, ticket_org):
        return False
    return caller.is_staff or not caller.own_tickets_only or opened_by == caller.ident


def require_ticket_access(caller: Caller, ticket_org: str, ticket_id: int, opened_by: str | None = None) -> None:
    """A ticket the caller may not see looks exactly like a missing one: existence is not leaked."""
    if not can_see_ticket(caller, ticket_org, opened_by):
        raise NotFound(f"There is no ticket #{ticket_id}.")


def not_an_org(word: str) -> UserError:
    """What a customer hears for another organisation: the same as for one that does not exist."""
    shown = word if len(word) <= 40 else word[:37] + "..."
    return UserError(f"'{shown}' is not an organisation")


def own_tickets_filter(caller: Caller) -> str | None:
    """`opened_by` for listings: a `default_org` customer lists only their own tickets."""
    return caller.ident if caller.own_tickets_only and not caller.is_staff else None


def require_org_access(caller: Caller, org: str) -> None:
    if not can_see_org(caller, org):
        raise not_an_org(org)


def may_set_priority(caller: Caller, config: Settings, plan: str) -> bool:
    """Isode silver/gold and seed 004 enterprise plans let the customer set priority."""
    if caller.is_staff:
        return True
    p = config.plans.get(plan)
    return p is not None and p.customer_sets_priority()


def require_staff(caller: Caller, what: str) -> None:
    if not caller.is_staff:
        raise PermissionDenied(f"Sorry, {what} is for agents.")


def org_scope(caller: Caller, requested: str | None, config: Settings) -> str | None:
    """The org a listing is about: customers always their own; agents the one named (or all)."""
    if caller.role is Role.CUSTOMER:
        if requested is not None and requested != caller.org:
            raise not_an_org(requested)  # existence of other organisations is not leaked
        return caller.org
    if requested is not None and requested not in config.orgs:
        raise NotFound(f"There is no organisation '{requested}'.")
    return requested


def may_acknowledge_page(caller: Caller, notified: set[str]) -> bool:
    """Anyone a page was sent to may acknowledge it, and so may any agent (who then owns it)."""
    return caller.is_staff or (caller.person is not None and caller.person in notified)


def billing_scope(caller: Caller, requested: str | None, config: Settings) -> str:
    """Whose plan, credits or deposit: a customer's own organisation (another one is refused);
    an agent names the organisation."""
    scope = org_scope(caller, requested, config)
    if scope is None:
        raise UserError("name the organisation (ORG)")
    return scope


def network_included(caller: Caller, plan_channels: Iterable[str]) -> bool:
    """Channel entitlements (plan `channels`) bind customers; agents may open a ticket for an
    org from anywhere, and the console is the operator's local tool."""
    return caller.is_staff or caller.network == "console" or caller.network in set(plan_channels)
