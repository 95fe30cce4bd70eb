"""The call-history doors of the prototype's API: list, export, and a user's stored call.

Each view reads through calls.selectors / calls.review.exports; domain errors (a bad date, an invalid number)
propagate to voicebot_site.api_errors, which answers `{"detail": ...}`.
"""
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls.review.exports import XLSX_CONTENT_TYPE, call_history_xlsx, export_filename
from calls.selectors import (
    DATE_FORMAT_HELP,
    INCLUDE_TEST_HELP,
    CallHistoryFilter,
    call_history_by_sid,
    call_history_list,
)
from calls.models import Call, CallStatus
from calls.api.serializers import (
    CallHistoryExportRequestSerializer,
    CallHistoryRecordSerializer,
    MakeCallResponseSerializer,
)
from contacts.phones import normalize_phone

FILTER_NAMES = tuple(CallHistoryFilter.base_filters)
EXPORT_DESCRIPTION = "call_history_YYYYMMDD.xlsx: the posted rows (by call_sid), or the calls matching the filters."

FILTER_PARAMETERS = [
    OpenApiParameter("start_date", str, description=f"First day (inclusive): {DATE_FORMAT_HELP}."),
    OpenApiParameter("end_date", str, description=f"Last day (inclusive): {DATE_FORMAT_HELP}."),
    OpenApiParameter("phone_number", str, description="Part of the number; spaces, 00 and + are ignored."),
    OpenApiParameter("call_status", str, enum=CallStatus.values),
    OpenApiParameter("extracted_info_keyword", str, description="Part of any extracted value, any case."),
    OpenApiParameter("include_test", bool, description=INCLUDE_TEST_HELP),
]


class CallHistoryListApi(APIView):
    required_permissions = {"GET": ("calls.view_call",)}

    @extend_schema(parameters=FILTER_PARAMETERS, responses=CallHistoryRecordSerializer(many=True))
    def get(self, request: Request) -> Response:
        calls = call_history_list(request.query_params)
        return Response(CallHistoryRecordSerializer(calls, many=True).data)


class CallHistoryExportApi(APIView):
    required_permissions = {"POST": ("calls.export_calls",)}

    @extend_schema(
        request=CallHistoryExportRequestSerializer,
        responses={(200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=EXPORT_DESCRIPTION)},
    )
    def post(self, request: Request) -> HttpResponse:
        body = request.data if isinstance(request.data, dict) else {}
        calls = _calls_by_sid(body["calls"]) if "calls" in body else call_history_list(_filter_params(request, body))
        response = HttpResponse(call_history_xlsx(calls), content_type=XLSX_CONTENT_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{export_filename("xlsx")}"'
        return response


class UserCallRecordApi(APIView):
    """The prototype stored `/make_call`'s answer here; voicebot already has it, so this returns the stored record."""

    required_permissions = {"POST": ("calls.view_call",)}  # a read, posted for the prototype's sake

    @extend_schema(request=MakeCallResponseSerializer, responses=CallHistoryRecordSerializer)
    def post(self, request: Request, phone_number: str) -> Response:
        phone = normalize_phone(phone_number)
        call_sid = request.data.get("call_sid") if isinstance(request.data, dict) else None
        if not isinstance(call_sid, str) or not call_sid:
            raise ParseError("call_sid is required: send the /make_call response as JSON.")
        call = Call.objects.select_related("contact").filter(twilio_sid=call_sid, contact__phone_number=phone).first()
        if call is None:
            raise NotFound("Call not found for this user.")
        return Response(CallHistoryRecordSerializer(call).data)


def _calls_by_sid(records: object) -> list[Call]:
    """Only the call_sid of each posted record is read: every exported value comes from the database."""
    if not isinstance(records, list):
        raise ParseError('"calls" must be a list of call records.')
    sids = [record.get("call_sid") for record in records if isinstance(record, dict)]
    return call_history_by_sid([sid for sid in sids if isinstance(sid, str) and sid])


def _filter_params(request: Request, body: dict) -> dict[str, str]:
    params = {name: request.query_params[name] for name in FILTER_NAMES if name in request.query_params}
    params.update({name: str(body[name]) for name in FILTER_NAMES if body.get(name) not in (None, "")})
    return params
