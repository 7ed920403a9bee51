"""The project's URLs plus views that fail on purpose, for the error-contract tests."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


def boom(request):
    raise RuntimeError("a bug")


class BoomApi(APIView):
    permission_classes = []

    def get(self, request):
        raise RuntimeError("a bug inside DRF")


@require_POST
def plain_post_only(request):
    return HttpResponse("ok")


urlpatterns = [
    path("api/test-boom/", boom),
    path("api/test-boom-drf/", BoomApi.as_view()),
    path("api/test-plain-post/", plain_post_only),
    *project_urlpatterns,
]
