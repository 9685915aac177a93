from django.contrib import admin

from labs.models import Lab, PersistJob


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "owner", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "image"]
    list_select_related = ["organization", "owner"]


@admin.register(PersistJob)
class PersistJobAdmin(admin.ModelAdmin):
    list_display = ["lab", "registry", "repository", "tag", "status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["lab", "registry"]
