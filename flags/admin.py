"""Django admin for flags: propose changes, let a second person decide, read overrides and audit.

Nothing here writes an override directly: the add form proposes through flags.services, and the
approve/reject actions call the services, which refuse self-approval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from flags.models import PERM_APPROVE, PERM_KILL_SWITCH, PERM_PROPOSE, AuditEntry, ChangeRequest, FlagOverride
from flags.models import scope_label as _scope_label
from flags.registry import REGISTRY, format_value
from flags.services import FlagError, change_approve, change_check, change_propose, change_reject

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_FLAG_PERMISSIONS = (PERM_PROPOSE, PERM_APPROVE, PERM_KILL_SWITCH)


def _user(request: HttpRequest) -> User:
    return cast("User", request.user)


class FlagsViewMixin:
    """Anyone who may propose, approve or throw a kill switch may also read every flags table."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = _user(request)
        return super().has_view_permission(request, obj) or any(  # type: ignore[misc]
            user.has_perm(permission) for permission in _FLAG_PERMISSIONS
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


class ReadOnlyAdmin(FlagsViewMixin, admin.ModelAdmin):
    """Overrides and audit entries change only through the services: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProposeForm(forms.ModelForm):
    """The add form: which flag, where, the new value as text (or remove the override), why."""

    key = forms.ChoiceField(choices=[(key, key) for key in sorted(REGISTRY)])
    value = forms.CharField(
        required=False,
        help_text="As you would type it: true/false, a number, or one of the flag's choices.",
    )
    remove_override = forms.BooleanField(
        required=False, help_text="Remove the override of this scope instead (back to the inherited value)."
    )

    class Meta:
        model = ChangeRequest
        fields = ["key", "restaurant_id", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        key = data.get("key")
        if not key:
            return data
        parsed: Any = None
        if data.get("remove_override"):
            if data.get("value"):
                raise forms.ValidationError("Give a value or tick “remove override”, not both.")
        else:
            try:
                parsed = REGISTRY[key].parse(data.get("value") or "")
            except ValueError as exc:
                self.add_error("value", str(exc))
                return data
        data["parsed_value"] = parsed
        try:
            change_check(key=key, value=parsed, restaurant_id=data.get("restaurant_id"))
        except FlagError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(ChangeRequest)
class ChangeRequestAdmin(FlagsViewMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "key",
        "scope",
        "new_value_display",
        "status",
        "proposed_by",
        "proposed_at",
        "decided_by",
    ]
    list_filter = ["status", "key"]
    search_fields = ["key", "reason"]
    actions = ["approve_selected", "reject_selected"]
    view_fields = [
        "key",
        "scope",
        "new_value_display",
        "reason",
        "status",
        "proposed_by",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_note",
    ]

    @admin.display(description="scope")
    def scope(self, obj: ChangeRequest) -> str:
        return _scope_label(obj.restaurant_id)

    @admin.display(description="new value")
    def new_value_display(self, obj: ChangeRequest) -> str:
        return "(remove override)" if obj.new_value is None else format_value(obj.new_value)

    # Proposing is the only "add"; a proposal is never edited or deleted, only decided.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return _user(request).has_perm(PERM_PROPOSE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return _user(request).has_perm(PERM_APPROVE)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["key", "restaurant_id", "value", "remove_override", "reason"]
        return self.view_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.view_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ProposeForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: ChangeRequest, form: Any, change: bool) -> None:
        # The service stores the proposal (proposer = the signed-in user); the admin then logs and
        # redirects to the stored row.
        created = change_propose(
            proposer=_user(request),
            key=form.cleaned_data["key"],
            value=form.cleaned_data["parsed_value"],
            reason=form.cleaned_data["reason"],
            restaurant_id=form.cleaned_data.get("restaurant_id"),
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def _decide(self, request: HttpRequest, queryset: QuerySet[ChangeRequest], *, approve: bool) -> None:
        for change_request in queryset.order_by("proposed_at"):
            try:
                if approve:
                    change_approve(change_request=change_request.pk, approver=_user(request))
                else:
                    change_reject(change_request=change_request.pk, rejecter=_user(request))
            except FlagError as exc:
                self.message_user(
                    request,
                    f"#{change_request.pk} not {'approved' if approve else 'rejected'}: {exc}",
                    messages.ERROR,
                )
            else:
                verb = "approved and applied" if approve else "rejected"
                self.message_user(
                    request, f"#{change_request.pk} {change_request.key}: {verb}.", messages.SUCCESS
                )

    @admin.action(description="Approve and apply selected changes", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[ChangeRequest]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected changes", permissions=["approve"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[ChangeRequest]) -> None:
        self._decide(request, queryset, approve=False)


@admin.register(FlagOverride)
class FlagOverrideAdmin(ReadOnlyAdmin):
    list_display = ["key", "scope", "value_display", "updated_at", "set_by_change"]
    list_filter = ["key"]
    search_fields = ["key"]

    @admin.display(description="scope")
    def scope(self, obj: FlagOverride) -> str:
        return _scope_label(obj.restaurant_id)

    @admin.display(description="value")
    def value_display(self, obj: FlagOverride) -> str:
        return format_value(obj.value)

    @admin.display(description="set by")
    def set_by_change(self, obj: FlagOverride) -> str:
        if obj.last_change_id is None:
            return "(written outside the services)"
        return f"audit #{obj.last_change_id}"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["applied_at", "kind", "key", "scope", "change", "proposed_by", "approved_by", "reason"]
    list_filter = ["kind", "key"]
    search_fields = ["key", "reason"]
    date_hierarchy = "applied_at"

    @admin.display(description="scope")
    def scope(self, obj: AuditEntry) -> str:
        return _scope_label(obj.restaurant_id)

    @admin.display(description="old → new")
    def change(self, obj: AuditEntry) -> str:
        return f"{format_value(obj.old_value)} → {format_value(obj.new_value)}"
