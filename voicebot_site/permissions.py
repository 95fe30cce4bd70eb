"""Who may use an API route: a staff user holding the Django permissions the view declares for the method.

DRF's IsAdminUser let any staff user do anything, and its DjangoModelPermissions lets anyone read (GET needs no
permission there) and knows nothing of what costs money or exposes a voice (placing calls, recordings, imports).
So each view declares what each method needs, with the same permissions the admin checks:

    required_permissions = {"GET": ("contacts.view_contact",), "DELETE": ("contacts.delete_contact",)}

or, when it depends on the request, a `get_required_permissions(request)` method. A method the view does not
declare is refused, so a route or method added later stays closed until someone decides who may use it.
HEAD and OPTIONS need what GET needs. Superusers hold every permission.
"""
from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is still loading
    from rest_framework.request import Request
    from rest_framework.views import APIView

READ_ALIASES = {"HEAD": "GET", "OPTIONS": "GET"}


class DeclaredPermissions(BasePermission):
    """Staff, with every permission the view declares for the request's method (none declared: refused)."""

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff):
            return False
        required = required_permissions(request, view)
        return required is not None and user.has_perms(required)


def required_permissions(request: "Request", view: "APIView") -> tuple[str, ...] | None:
    """The permissions `view` declares for this request, or None when it declares none for its method."""
    getter = getattr(view, "get_required_permissions", None)
    if getter is not None:
        return getter(request)
    declared = getattr(view, "required_permissions", {})
    return declared.get(READ_ALIASES.get(request.method, request.method))
