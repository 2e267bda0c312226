from django.core.exceptions import ValidationError

from .finess import finess_error


def validate_finess(value: str) -> None:
    reason = finess_error(value)
    if reason:
        raise ValidationError(reason, code="invalid_finess")
