"""Form pieces the pages of several apps share: the browser's date and time pickers, a date
field, and the day with start and end times of a session. The messages say what to type, in
French."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

INVALID_DATE = "Indiquez une date valide (jj/mm/aaaa)."
INVALID_TIME = "Indiquez une heure valide (hh:mm)."


class DateInput(forms.DateInput):
    """The browser's date picker (it sends and shows ISO dates)."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%H:%M")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


def date_field(label: str, missing: str, **kwargs) -> forms.DateField:
    """A date from the picker; `missing` is the message when it is left empty."""
    return forms.DateField(
        label=label,
        widget=DateInput(),
        error_messages={"required": missing, "invalid": INVALID_DATE},
        **kwargs,
    )


def time_field(label: str, missing: str, **kwargs) -> forms.TimeField:
    """A time of day from the picker; `missing` is the message when it is left empty."""
    return forms.TimeField(
        label=label,
        widget=TimeInput(),
        error_messages={"required": missing, "invalid": INVALID_TIME},
        **kwargs,
    )


def day_times_fields() -> tuple[forms.DateField, forms.TimeField, forms.TimeField]:
    """The day, start and end of a session, unpacked where they stand in the form:
    `day, start_time, end_time = day_times_fields()`, in a form with DayTimesMixin."""
    return (
        date_field("Date", "Indiquez la date de la session (jj/mm/aaaa)."),
        time_field("Heure de début", "Indiquez l'heure de début (hh:mm)."),
        time_field("Heure de fin", "Indiquez l'heure de fin (hh:mm)."),
    )


class DayTimesMixin:
    """A form with the fields of day_times_fields(): a session held on one day, the end after
    the start. Turns them into the `starts_at` / `ends_at` of the service (in the current time
    zone) and back into initial values."""

    def clean(self):
        data = super().clean()
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end <= start:
            self.add_error("end_time", "L'heure de fin doit suivre l'heure de début.")
        return data

    @staticmethod
    def pop_day_times(data: dict) -> dict:
        """Replace the day and its times in cleaned `data` by `starts_at` and `ends_at`."""
        day, zone = data.pop("day"), timezone.get_current_timezone()
        data["starts_at"] = datetime.datetime.combine(day, data.pop("start_time"), tzinfo=zone)
        data["ends_at"] = datetime.datetime.combine(day, data.pop("end_time"), tzinfo=zone)
        return data

    @staticmethod
    def day_times_initial(starts_at: datetime.datetime, ends_at: datetime.datetime) -> dict:
        """The initial values of the three fields for a session's start and end."""
        starts, ends = timezone.localtime(starts_at), timezone.localtime(ends_at)
        return {
            "day": starts.date().isoformat(),
            "start_time": f"{starts:%H:%M}",
            "end_time": f"{ends:%H:%M}",
        }


class YamlTextField(forms.FileField):
    """An uploaded YAML data file (scenarios, questionnaires), given to the form as its text:
    checked for its extension, size and encoding, with messages that say what to do."""

    def __init__(self, *, max_bytes: int = 512 * 1024, too_big: str = "", **kwargs):
        self.max_bytes = max_bytes
        self.too_big = too_big or f"Le fichier dépasse {max_bytes // 1024} Ko."
        super().__init__(**kwargs)

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if upload is None or isinstance(upload, str):
            return upload
        if not upload.name.lower().endswith((".yaml", ".yml")):
            raise forms.ValidationError(
                "Le fichier doit être un fichier YAML (extension .yaml ou .yml)."
            )
        if upload.size > self.max_bytes:
            raise forms.ValidationError(self.too_big)
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(
                "Le fichier n'est pas un texte UTF-8 : enregistrez-le en UTF-8 depuis votre "
                "éditeur puis recommencez."
            ) from exc
