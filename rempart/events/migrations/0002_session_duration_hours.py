"""Sessions over several days: the training time is declared (a 2-day course is not 33 hours).
Steps: add the column empty, fill it for the existing sessions (all held on one day: end −
start), then make it required and positive."""

from decimal import Decimal

from django.db import migrations, models


def fill_durations(apps, schema_editor):
    TrainingSession = apps.get_model("events", "TrainingSession")
    for session in TrainingSession.objects.filter(duration_hours__isnull=True).iterator():
        seconds = (session.ends_at - session.starts_at).total_seconds()
        session.duration_hours = (Decimal(seconds) / 3600).quantize(Decimal("0.01"))
        session.save(update_fields=["duration_hours"])


class Migration(migrations.Migration):
    dependencies = [("events", "0001_events_initial")]

    operations = [
        migrations.AddField(
            model_name="trainingsession",
            name="duration_hours",
            field=models.DecimalField(
                decimal_places=2,
                max_digits=5,
                null=True,
                verbose_name="durée de formation (heures)",
            ),
        ),
        migrations.RunPython(fill_durations, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="trainingsession",
            name="duration_hours",
            field=models.DecimalField(
                decimal_places=2, max_digits=5, verbose_name="durée de formation (heures)"
            ),
        ),
        migrations.AddConstraint(
            model_name="trainingsession",
            constraint=models.CheckConstraint(
                condition=models.Q(("duration_hours__gt", 0)), name="training_duration_positive"
            ),
        ),
    ]
