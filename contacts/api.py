"""The prototype's /api/users... routes (except POST /api/users/{phone}/calls, which lives in calls.api.history).

Thin doors: each view parses the request, calls contacts.services or contacts.resources and shapes the answer.
The services' ContactError and DRF's own validation errors propagate to voicebot_site.api_errors, which answers
400 `{"detail": ...}`, the one error shape the prototype's clients know.
"""
from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from django.contrib.admin.models import DELETION

from calls.models import Call
from calls.selectors import INCLUDE_TEST_HELP, include_test_calls, without_test_calls
from contacts.models import Contact
from contacts.resources import EXPORT_FORMATS, contacts_export
from contacts.serializers import (
    ContactCreateSerializer,
    ContactImportRequestSerializer,
    ContactImportResultSerializer,
    ContactSerializer,
    ContactUpdateSerializer,
    DetailSerializer,
    MessageSerializer,
)
from contacts.services import (
    ContactError,
    ImportReport,
    contact_create,
    contact_delete,
    contact_phone,
    contact_update,
    contacts_import,
    contacts_import_size_check,
)
from voicebot_site.admin_history import history_record, history_record_bulk

TAGS = ["users"]
INCLUDE_TEST_PARAMETER = OpenApiParameter("include_test", bool, description=f"In each call_history: {INCLUDE_TEST_HELP}")
# Every answer about a contact carries its call history, so reading one needs both views.
READ = ("contacts.view_contact", "calls.view_call")
MULTIPART_SLACK = 64 * 1024
ERRORS = {400: DetailSerializer, 404: DetailSerializer}
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}


def contact_list(*, include_test: bool = False):
    """Contacts newest first, each with its calls newest first (test calls only if asked), in two queries."""
    calls = Call.objects.order_by("-created_at", "-id")
    calls = calls if include_test else without_test_calls(calls)
    return Contact.objects.order_by("-created_at", "-id").prefetch_related(Prefetch("calls", queryset=calls))


class ContactListApi(APIView):
    required_permissions = {"GET": READ, "POST": ("contacts.add_contact",)}

    @extend_schema(tags=TAGS, summary="List users, newest first", parameters=[INCLUDE_TEST_PARAMETER],
                   responses=ContactSerializer(many=True))
    def get(self, request: Request) -> Response:
        contacts = contact_list(include_test=include_test_calls(request.query_params))
        return Response(ContactSerializer(contacts, many=True).data)

    @extend_schema(
        tags=TAGS, summary="Create a user", request=ContactCreateSerializer,
        responses={201: ContactSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = ContactCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        contact = contact_create(**body.validated_data)
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


PHONE_PARAMETER = OpenApiParameter(
    "phone_number", str, OpenApiParameter.PATH, description="Any format: 600 123 456, 0034600123456, +34600123456."
)


class ContactDetailApi(APIView):
    # Deleting a contact deletes its calls and their recordings too.
    required_permissions = {
        "GET": READ, "PUT": (*READ, "contacts.change_contact"),
        "DELETE": ("contacts.delete_contact", "calls.delete_call"),
    }

    def get_contact(self, phone_number: str, *, include_test: bool = False) -> Contact:
        contact = contact_list(include_test=include_test).filter(phone_number=contact_phone(value=phone_number)).first()
        if contact is None:
            raise NotFound("User not found")
        return contact

    @extend_schema(
        tags=TAGS, summary="Get a user", parameters=[PHONE_PARAMETER, INCLUDE_TEST_PARAMETER],
        responses={200: ContactSerializer, **ERRORS},
    )
    def get(self, request: Request, phone_number: str) -> Response:
        include_test = include_test_calls(request.query_params)
        return Response(ContactSerializer(self.get_contact(phone_number, include_test=include_test)).data)

    @extend_schema(
        tags=TAGS, summary="Update a user's name, comments, attributes or do-not-call flag", parameters=[PHONE_PARAMETER],
        request=ContactUpdateSerializer, responses={200: ContactSerializer, **ERRORS},
    )
    def put(self, request: Request, phone_number: str) -> Response:
        contact = self.get_contact(phone_number)
        body = ContactUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        contact_update(contact=contact, **body.validated_data)
        return Response(ContactSerializer(self.get_contact(phone_number)).data)

    @extend_schema(
        tags=TAGS, summary="Delete a user, their calls and recordings", parameters=[PHONE_PARAMETER],
        responses={200: MessageSerializer, **ERRORS},
    )
    def delete(self, request: Request, phone_number: str) -> Response:
        contact = self.get_contact(phone_number)
        history_record(user=request.user, objects=[contact], flag=DELETION,
                       message="Deleted through the API, with its calls and their recordings.")
        contact_delete(contact=contact)
        return Response({"message": "User and associated audio files deleted successfully"})


class ContactImportApi(APIView):
    required_permissions = {"POST": ("contacts.add_contact", "contacts.import_contacts")}
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=TAGS, summary="Import users from a file", request={"multipart/form-data": ContactImportRequestSerializer},
        responses={200: ContactImportResultSerializer, 400: ContactImportResultSerializer},
    )
    def post(self, request: Request) -> Response:
        # The multipart envelope adds a few hundred bytes; anything far past the limit is refused unread.
        contacts_import_size_check(size=max(int(request.META.get("CONTENT_LENGTH") or 0) - MULTIPART_SLACK, 0))
        upload = request.FILES.get("file")
        if upload is None:
            raise ContactError('Send the file as multipart/form-data in a field named "file".')
        report = contacts_import(file=upload, filename=upload.name, size=upload.size)
        history_record_bulk(user=request.user, model=Contact, title=f"Import of {upload.name}",
                            message=f"Imported {len(report.new)} new contact(s) from {upload.name} through the API; "
                                    f"{len(report.failed)} row(s) not imported.")
        if report.no_valid_number:
            body = {"detail": _nothing_imported(report), **_report_json(report)}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(_report_json(report))


def _report_json(report: ImportReport) -> dict:
    failed = [{"row": error.row, "input": error.input, "error": error.error} for error in report.failed]
    message = f"Imported {len(report.new)} users; {len(failed)} rows failed."
    return {
        "message": message, "imported_count": len(report.new), "failed_count": len(failed),
        "imported_users": report.imported_numbers, "failed_users": failed,
        "attribute_columns": report.attribute_names,
    }


def _nothing_imported(report: ImportReport) -> str:
    return (
        f"No valid phone number found in the first column ({len(report.failed)} rows, see failed_users). "
        "Put the phone numbers in the first column, names in the second, and import the file again."
    )


class FileFormatNegotiation(DefaultContentNegotiation):
    """Here `?format=` names the file to download, not a DRF renderer; answers (errors) are always JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


EXPORT_SCHEMA = extend_schema(
    tags=TAGS, summary="Export users (Phone Number, Name) as users_export.<format>",
    parameters=[OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), default="xlsx")],
    request=None,
    responses={
        **{(200, content_type): OpenApiResponse(OpenApiTypes.BINARY) for content_type in CONTENT_TYPES.values()},
        400: DetailSerializer,
    },
)


class ContactExportApi(APIView):
    required_permissions = {"GET": ("contacts.export_contacts",), "POST": ("contacts.export_contacts",)}
    content_negotiation_class = FileFormatNegotiation

    @EXPORT_SCHEMA
    def get(self, request: Request) -> HttpResponse:
        file_format = request.query_params.get("format", "xlsx").lower()
        if file_format not in EXPORT_FORMATS:
            raise ContactError(f"Unknown export format '{file_format}'. Use one of: {', '.join(EXPORT_FORMATS)}.")
        data = contacts_export(queryset=Contact.objects.order_by("-created_at", "-id"), file_format=file_format)
        response = HttpResponse(data, content_type=CONTENT_TYPES[file_format])
        response["Content-Disposition"] = f'attachment; filename="users_export.{file_format}"'
        return response

    @EXPORT_SCHEMA
    def post(self, request: Request) -> HttpResponse:
        return self.get(request)
