"""`/api/campaigns/`: create a campaign from contact ids, list, read with its progress, start / pause / resume /
cancel it, download its results, read a contact's run in it and set that contact's own time zone. Each route
declares the permissions it needs (voicebot_site.permissions): Supervisors manage campaigns, Agents may read them."""
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import services
from campaigns.models import Campaign, CampaignContact
from campaigns.results import FORMATS, campaign_results_response
from campaigns.serializers import (
    CampaignContactSerializer,
    CampaignCreateSerializer,
    CampaignDetailSerializer,
    CampaignSerializer,
)
from voicebot_site.admin_history import history_record

LIST_LIMIT = 500
VIEW = ("campaigns.view_campaign",)
# Starting or resuming dials people: it needs the permission to place calls too.
ACTIONS = {
    "start": (services.campaign_start, ("campaigns.change_campaign", "calls.place_call")),
    "pause": (services.campaign_pause, ("campaigns.change_campaign",)),
    "resume": (services.campaign_resume, ("campaigns.change_campaign", "calls.place_call")),
    "cancel": (services.campaign_cancel, ("campaigns.change_campaign",)),
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The campaign's state does not allow this."


class CampaignListApi(APIView):
    required_permissions = {"GET": VIEW, "POST": ("campaigns.add_campaign",)}

    @extend_schema(responses=CampaignSerializer(many=True), summary=f"The {LIST_LIMIT} newest campaigns")
    def get(self, request: Request) -> Response:
        return Response(CampaignSerializer(Campaign.objects.all()[:LIST_LIMIT], many=True).data)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignDetailSerializer},
                   summary="Create a draft campaign from contact ids")
    def post(self, request: Request) -> Response:
        serializer = CampaignCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        contact_ids, numbers = data.pop("contact_ids", None), data.pop("phone_numbers", None)
        source = "contact_ids" if numbers is None else "phone_numbers"
        try:
            with transaction.atomic():
                if numbers is not None:
                    contact_ids = services.contact_ids_for_numbers(numbers)
                campaign = services.campaign_create(campaign=Campaign(created_by=request.user, **data),
                                                    contact_ids=contact_ids)
        except services.CampaignStateError as exc:
            raise exceptions.ValidationError({source: exc.message}) from None
        except ValidationError as exc:
            raise _field_errors(exc) from None
        history_record(user=request.user, objects=[campaign], message="Created through the API.")
        return Response(CampaignDetailSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    required_permissions = {"GET": VIEW}

    @extend_schema(responses=CampaignDetailSerializer, summary="A campaign with its progress")
    def get(self, request: Request, pk: int) -> Response:
        return Response(CampaignDetailSerializer(get_object_or_404(Campaign, pk=pk)).data)


class CampaignActionApi(APIView):
    """POST /api/campaigns/{id}/{start|pause|resume|cancel}/: 409 when the campaign's state does not allow it."""

    action_name = ""

    def get_required_permissions(self, request: Request) -> tuple[str, ...] | None:
        return ACTIONS[self.action_name][1] if request.method == "POST" else None

    @extend_schema(request=None, responses={200: CampaignDetailSerializer, 409: OpenApiResponse(
        description="The campaign's state does not allow this action.")})
    def post(self, request: Request, pk: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=pk)
        action = ACTIONS[self.action_name][0]
        try:
            campaign = action(campaign=campaign)
        except services.CampaignStateError as exc:
            raise Conflict(exc.message) from None
        except ValidationError as exc:  # rules that no longer hold (a profile folder removed, ...)
            raise _field_errors(exc) from None
        history_record(user=request.user, objects=[campaign], message=f"{self.action_name.title()} (API).")
        return Response(CampaignDetailSerializer(campaign).data)


class CampaignResultsApi(APIView):
    required_permissions = {"GET": (*VIEW, "calls.export_calls")}

    @extend_schema(
        parameters=[OpenApiParameter("file_format", str, enum=list(FORMATS), description="csv (default) or xlsx")],
        responses={(200, content_type): OpenApiResponse(OpenApiTypes.BINARY, description="One row per contact.")
                   for content_type in FORMATS.values()},
        summary="A campaign's results, one row per contact",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        campaign = get_object_or_404(Campaign, pk=pk)
        file_format = request.query_params.get("file_format", "csv")
        if file_format not in FORMATS:
            raise exceptions.ValidationError({"file_format": "Use csv or xlsx."})
        return campaign_results_response(campaign=campaign, file_format=file_format)


class CampaignContactApi(APIView):
    """GET / PATCH /api/campaigns/{id}/contacts/{contact_id}/: one contact's run; PATCH sets its own time zone, and a
    contact waiting for its next attempt is rescheduled in it at once."""

    required_permissions = {"GET": ("campaigns.view_campaigncontact",),
                            "PATCH": ("campaigns.change_campaigncontact",)}

    @extend_schema(responses=CampaignContactSerializer, summary="A contact's run in a campaign")
    def get(self, request: Request, pk: int, contact_id: int) -> Response:
        return Response(CampaignContactSerializer(self._entry(pk, contact_id)).data)

    @extend_schema(request=CampaignContactSerializer, responses=CampaignContactSerializer,
                   summary="Set a contact's own time zone in a campaign")
    def patch(self, request: Request, pk: int, contact_id: int) -> Response:
        entry = self._entry(pk, contact_id)
        serializer = CampaignContactSerializer(entry, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        entry = serializer.save()
        services.entry_reschedule_one(entry=entry)
        history_record(user=request.user, objects=[entry], message=f"Time zone set to {entry.time_zone!r} (API).")
        return Response(CampaignContactSerializer(self._entry(pk, contact_id)).data)

    @staticmethod
    def _entry(pk: int, contact_id: int) -> CampaignContact:
        if max(pk, contact_id) >= 2**63:  # no such row; a foreign key lookup would overflow the database's integer
            raise Http404
        return get_object_or_404(CampaignContact.objects.select_related("contact", "campaign"), campaign_id=pk,
                                 contact_id=contact_id)


def _field_errors(exc: ValidationError) -> exceptions.ValidationError:
    """The model's errors with their field names, so the answer says what to fix (`window: ...`)."""
    return exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
