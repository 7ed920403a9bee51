"""The API's human-readable documentation, served entirely from this server.

Swagger UI (``/api/docs/``) and ReDoc (``/api/redoc/``) load their scripts and styles from
drf-spectacular-sidecar's static files (``SPECTACULAR_SETTINGS`` points both at ``SIDECAR``), so the
pages work without internet; ReDoc's page drops drf-spectacular's Google Fonts links. Both pages also
carry a Content-Security-Policy that keeps the browser on this origin: ReDoc's bundle hard-codes its
vendor's logo from cdn.redoc.ly, which the policy refuses (the sidebar then shows the text alone).
"""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Inline scripts and styles: both pages start their UI from an inline <script>; ReDoc's search index runs
# in a blob: worker; images may be data: URIs (Swagger UI's icons).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    )
)


class SameOriginOnly:
    @extend_schema(exclude=True)  # pages about the API, not part of it
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class SwaggerView(SameOriginOnly, SpectacularSwaggerView):
    pass


class RedocView(SameOriginOnly, SpectacularRedocView):
    template_name = "api/redoc.html"
