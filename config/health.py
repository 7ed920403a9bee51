"""A liveness probe: answers without touching the database, the cache or authentication.

It is also the ceiling in bench/bench_api.py: the cheapest JSON answer the stack can give.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses=inline_serializer("Health", {"status": serializers.CharField()}),
        summary="Liveness probe: the process answers",
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})
