from django.apps import AppConfig


class AllocatorConfig(AppConfig):
    name = "allocator"
    default_auto_field = "django.db.models.BigAutoField"
