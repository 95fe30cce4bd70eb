"""HTTP routes of the campaigns app."""
from django.urls import path

from campaigns import api

urlpatterns = [
    path("api/campaigns/", api.CampaignListApi.as_view(), name="campaign-list"),
    path("api/campaigns/<int:pk>/", api.CampaignDetailApi.as_view(), name="campaign-detail"),
    path("api/campaigns/<int:pk>/results/", api.CampaignResultsApi.as_view(), name="campaign-results"),
    path("api/campaigns/<int:pk>/contacts/<int:contact_id>/", api.CampaignContactApi.as_view(),
         name="campaign-contact"),
    *(path(f"api/campaigns/<int:pk>/{name}/", api.CampaignActionApi.as_view(action_name=name),
           name=f"campaign-{name}") for name in api.ACTIONS),
]
