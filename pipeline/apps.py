from django.apps import AppConfig


class PipelineConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pipeline"
    verbose_name = "Retraining pipeline"

    def ready(self) -> None:
        from config import checks  # noqa: F401 - registers the project's system checks
