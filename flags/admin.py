"""Django admin for flags: propose changes, let a second person decide, read overrides and audit;
manage cohorts; plan rollouts and watch what each step measured.

Nothing here writes an override or a target directly: the forms and buttons call flags.services,
which refuse self-approval. A user without the permission a page needs gets the admin's own 403
page naming that permission, not a bare "403 Forbidden".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from flags.models import (
    PERM_APPROVE,
    PERM_KILL_SWITCH,
    PERM_PROPOSE,
    AuditEntry,
    ChangeRequest,
    Cohort,
    FlagOverride,
    FlagTarget,
    RolloutPlan,
)
from flags.models import scope_label as _scope_label
from flags.registry import REGISTRY, format_value
from flags.rollout import plan_report
from flags.services import (
    FlagError,
    change_approve,
    change_check,
    change_propose,
    change_reject,
    cohort_members_set,
    rollout_plan_create,
    rollout_pull,
    rollout_step_propose,
)
from observability.scoping import restaurant_model

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_FLAG_PERMISSIONS = (PERM_PROPOSE, PERM_APPROVE, PERM_KILL_SWITCH)


def _user(request: HttpRequest) -> User:
    return cast("User", request.user)


def _permission_name(permission: str) -> str:
    app_label, codename = permission.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    return found.name if found is not None else permission


def permission_denied(request: HttpRequest, permission: str, *, doing: str) -> TemplateResponse:
    """Return the admin's own 403 page, naming the permission the user lacks."""
    context = {
        **admin.site.each_context(request),
        "title": "You need another permission",
        "permission": permission,
        "permission_name": _permission_name(permission),
        "doing": doing,
    }
    return TemplateResponse(request, "admin/flags/permission_denied.html", context, status=403)


class FlagsViewMixin:
    """Anyone who may propose, approve or throw a kill switch may also read every flags table.

    The admin views answer a missing permission with the admin's 403 page naming it.
    """

    add_permission = PERM_PROPOSE

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        user = _user(request)
        return super().has_view_permission(request, obj) or any(  # type: ignore[misc]
            user.has_perm(permission) for permission in _FLAG_PERMISSIONS
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def _denied(self, request: HttpRequest, *, adding: bool = False) -> TemplateResponse:
        opts = self.model._meta  # type: ignore[attr-defined]
        if adding:
            return permission_denied(request, self.add_permission, doing=f"add a {opts.verbose_name}")
        return permission_denied(request, PERM_PROPOSE, doing=f"see the {opts.verbose_name_plural}")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)  # type: ignore[misc]
        except PermissionDenied:
            return self._denied(request)

    def changeform_view(
        self, request: HttpRequest, object_id: Any = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except PermissionDenied:
            return self._denied(request, adding=object_id is None)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().history_view(request, object_id, extra_context)  # type: ignore[misc]
        except PermissionDenied:
            return self._denied(request)


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
        fields = ["key", "restaurant_id", "cohort", "percentage", "reason"]

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
            change_check(
                key=key,
                value=parsed,
                restaurant_id=data.get("restaurant_id"),
                cohort=data.get("cohort"),
                percentage=data.get("percentage"),
            )
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
        return obj.scope

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
            return ["key", "restaurant_id", "cohort", "percentage", "value", "remove_override", "reason"]
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
            cohort=form.cleaned_data.get("cohort"),
            percentage=form.cleaned_data.get("percentage"),
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
        return obj.scope

    @admin.display(description="old → new")
    def change(self, obj: AuditEntry) -> str:
        return obj.change_text


# --- cohorts and targets ---------------------------------------------------------------------------


class CohortForm(forms.ModelForm):
    restaurants = forms.ModelMultipleChoiceField(
        queryset=restaurant_model()._default_manager.order_by("name"),
        required=False,
        widget=FilteredSelectMultiple("restaurants", is_stacked=False),
        help_text="Membership changes take effect at once for the cohort's targets.",
    )

    class Meta:
        model = Cohort
        fields = ["name", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["restaurants"].initial = list(
                self.instance.members.values_list("restaurant_id", flat=True)
            )


@admin.register(Cohort)
class CohortAdmin(FlagsViewMixin, admin.ModelAdmin):
    form = CohortForm
    list_display = ["name", "description", "size", "targets"]
    search_fields = ["name"]
    add_permission = "flags.add_cohort"

    @admin.display(description="restaurants")
    def size(self, obj: Cohort) -> int:
        return obj.members.count()

    @admin.display(description="targeted by")
    def targets(self, obj: Cohort) -> str:
        rows = FlagTarget.objects.filter(cohort=obj).order_by("key")
        return ", ".join(f"{row.key} = {format_value(row.value)}" for row in rows) or "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The name is what cached entries and targets refer to: fixed once created.
        return ["name"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Cohort, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        cohort_members_set(cohort=obj, restaurant_ids=[r.pk for r in form.cleaned_data["restaurants"]])


@admin.register(FlagTarget)
class FlagTargetAdmin(ReadOnlyAdmin):
    list_display = ["key", "scope", "value_display", "updated_at", "last_change"]
    list_filter = ["key"]

    @admin.display(description="scope")
    def scope(self, obj: FlagTarget) -> str:
        return _scope_label(None, obj.cohort.name if obj.cohort is not None else None, obj.percentage)

    @admin.display(description="value")
    def value_display(self, obj: FlagTarget) -> str:
        return format_value(obj.value)


# --- rollout plans ---------------------------------------------------------------------------------


class RolloutPlanForm(forms.ModelForm):
    """Plan a rollout: which flag, the shadow (safe) value, the value rolled out, the percentages."""

    key = forms.ChoiceField(choices=[(key, key) for key in sorted(REGISTRY)], initial="capacity.enforcement")
    shadow = forms.CharField(
        label="shadow value", initial="shadow", help_text="Step 0 everywhere; what the kill switch restores."
    )
    target = forms.CharField(label="rolled-out value", initial="enforce")
    steps = forms.CharField(
        label="percentages",
        initial="10, 50, 100",
        help_text="Rising percentages of restaurants, ending at 100.",
    )

    class Meta:
        model = RolloutPlan
        fields = ["key", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        flag = REGISTRY.get(data.get("key", ""))
        if flag is None:
            return data
        for name in ("shadow", "target"):
            try:
                data[f"{name}_value"] = flag.parse(data.get(name) or "")
            except ValueError as exc:
                self.add_error(name, str(exc))
        try:
            data["percentages"] = [int(part) for part in (data.get("steps") or "").replace(",", " ").split()]
        except ValueError:
            self.add_error("steps", "Give whole numbers, e.g. 10, 50, 100.")
        return data


@admin.register(RolloutPlan)
class RolloutPlanAdmin(FlagsViewMixin, admin.ModelAdmin):
    form = RolloutPlanForm
    list_display = ["id", "key", "steps_display", "status", "created_by", "created_at"]
    list_filter = ["status", "key"]

    @admin.display(description="steps")
    def steps_display(self, obj: RolloutPlan) -> str:
        return " → ".join([format_value(obj.shadow_value), *(f"{p} %" for p in obj.percentages)])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _user(request).has_perm(PERM_PROPOSE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["key", "shadow", "target", "steps", "reason"]

    def save_model(self, request: HttpRequest, obj: RolloutPlan, form: Any, change: bool) -> None:
        created = rollout_plan_create(
            user=_user(request),
            key=form.cleaned_data["key"],
            shadow_value=form.cleaned_data["shadow_value"],
            target_value=form.cleaned_data["target_value"],
            percentages=form.cleaned_data["percentages"],
            reason=form.cleaned_data["reason"],
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        # The add page is the ordinary admin form; the change page is the plan page below.
        try:
            return super().add_view(request, form_url, extra_context)
        except FlagError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            return self._denied(request)
        plan = get_object_or_404(RolloutPlan, pk=object_id)
        user = _user(request)
        report = plan_report(plan)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Rollout of {plan.key}",
            "plan": plan,
            "report": report,
            "original": plan,
            "restaurant_names": [report.restaurants.get(rid, f"#{rid}") for rid in report.in_group],
            "can_propose": user.has_perm(PERM_PROPOSE),
            "can_approve": user.has_perm(PERM_APPROVE),
            "can_pull": user.has_perm(PERM_KILL_SWITCH),
            "user_proposed_pending": report.pending is not None and report.pending.proposed_by_id == user.pk,
        }
        return TemplateResponse(request, "admin/flags/rolloutplan/plan.html", context)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:plan_id>/propose/", wrap(require_POST(self.propose_view)), name="flags_rollout_propose"
            ),
            path("<int:plan_id>/decide/", wrap(require_POST(self.decide_view)), name="flags_rollout_decide"),
            path("<int:plan_id>/pull/", wrap(require_POST(self.pull_view)), name="flags_rollout_pull"),
            *super().get_urls(),
        ]

    def _back(self, plan_id: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:flags_rolloutplan_change", args=[plan_id]))

    def propose_view(self, request: HttpRequest, plan_id: int) -> HttpResponse:
        if not _user(request).has_perm(PERM_PROPOSE):
            return permission_denied(request, PERM_PROPOSE, doing="propose a rollout step")
        try:
            change = rollout_step_propose(
                plan=plan_id, proposer=_user(request), reason=request.POST.get("reason", "")
            )
        except FlagError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(
                request,
                f"Step {change.plan_step} proposed as change request #{change.pk}; "
                "a different person must approve it.",
                messages.SUCCESS,
            )
        return self._back(plan_id)

    def decide_view(self, request: HttpRequest, plan_id: int) -> HttpResponse:
        if not _user(request).has_perm(PERM_APPROVE):
            return permission_denied(request, PERM_APPROVE, doing="approve a rollout step")
        change = get_object_or_404(ChangeRequest, pk=request.POST.get("change_request"), plan_id=plan_id)
        approve = request.POST.get("decision") == "approve"
        try:
            if approve:
                change_approve(
                    change_request=change, approver=_user(request), note=request.POST.get("note", "")
                )
            else:
                change_reject(
                    change_request=change, rejecter=_user(request), note=request.POST.get("note", "")
                )
        except FlagError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            verb = "approved and applied" if approve else "rejected"
            self.message_user(request, f"Step {change.plan_step} {verb}.", messages.SUCCESS)
        return self._back(plan_id)

    def pull_view(self, request: HttpRequest, plan_id: int) -> HttpResponse:
        if not _user(request).has_perm(PERM_KILL_SWITCH):
            return permission_denied(request, PERM_KILL_SWITCH, doing="pull a rollout")
        try:
            entries = rollout_pull(plan=plan_id, user=_user(request), reason=request.POST.get("reason", ""))
        except FlagError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(
                request,
                f"Rollout pulled: every restaurant is back to the shadow value ({len(entries)} audited "
                "changes); on-call is being alerted.",
                messages.WARNING,
            )
        return self._back(plan_id)
