"""Staff screens: the buyer's reorder worklist, purchase orders, suppliers and terms, forecasts.

Every write goes through ``inventory.services`` and ``inventory.services_worklist`` (quantities,
snoozes, dismissals, service levels, purchase order email/receive/cancel); forecast runs, forecasts
and suggestions are otherwise read-only. Charts are plain SVG strings (see ``inventory.charts``),
cached per forecast; numpy is imported only when one is drawn.
"""

from . import forecasts, purchasing, worklist  # noqa: F401  (each registers its screens)
from .common import forecast_chart_html, suggestion_flags
from .worklist import suggestions_with_value

__all__ = ["forecast_chart_html", "suggestion_flags", "suggestions_with_value"]
