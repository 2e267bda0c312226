"""REST API v1 of the learner side: the catalogue with the questions (never the answers), and
submitting a quiz, answered with the score, each question's correction and explanation, and
the certificate when passed.

Routes: `awareness/modules/` (GET) and `awareness/modules/{code}/attempts/` (POST). Same
selectors and service as the pages; invalid answers are a structured 400 whose
`error.details` maps each question code (or `__all__`) to its French message."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from rempart.organisations.api import errors

from . import learning_selectors as sel
from . import learning_services as services
from . import perms

TAG = "Sensibilisation"


class ChoiceSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class QuestionSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()
    kind = serializers.CharField(help_text="« unique » (une réponse) ou « multiple ».")
    choices = ChoiceSerializer(many=True)


class ModuleSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    theme = serializers.CharField()
    audience = serializers.CharField()
    duration_minutes = serializers.IntegerField()
    pass_mark = serializers.IntegerField(help_text="Score minimal de réussite, en %.")
    version = serializers.IntegerField()
    passed = serializers.BooleanField(help_text="Vous avez déjà réussi ce module.")
    questions = QuestionSerializer(many=True)


class AttemptCreateSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=20), max_length=20),
        help_text="Par code de question, la liste des codes de réponses choisies : "
        '{"hameconnage": ["b"]}.',
    )
    organisation = serializers.IntegerField(
        required=False,
        help_text="Au titre de laquelle de vos organisations (par défaut : la première).",
    )


class CorrectionSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()
    selected = serializers.ListField(child=serializers.CharField())
    correct = serializers.ListField(child=serializers.CharField())
    is_correct = serializers.BooleanField()
    explanation = serializers.CharField()


class AttemptResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    module = serializers.CharField()
    module_version = serializers.IntegerField()
    score = serializers.IntegerField(help_text="En %.")
    correct_count = serializers.IntegerField()
    question_count = serializers.IntegerField()
    pass_mark = serializers.IntegerField()
    passed = serializers.BooleanField()
    submitted_at = serializers.DateTimeField()
    questions = CorrectionSerializer(many=True)
    certificate_code = serializers.CharField(allow_null=True)
    certificate_url = serializers.CharField(allow_null=True, help_text="Le PDF (titulaire).")
    verification_url = serializers.CharField(allow_null=True, help_text="Page publique.")


class ModuleListView(APIView):
    throttle_classes = [UserRateThrottle]

    @extend_schema(
        tags=[TAG],
        summary="Modules de sensibilisation",
        description="Les modules publiés pour votre public, avec leurs questions et choix (sans "
        "les bonnes réponses).",
        responses={200: ModuleSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        modules = sel.catalogue(request.user)
        data = [
            {
                "code": m.code,
                "title": m.title,
                "summary": m.summary,
                "theme": m.theme,
                "audience": m.audience,
                "duration_minutes": m.duration_minutes,
                "pass_mark": m.pass_mark,
                "version": m.version,
                "passed": m.my_passed,
                "questions": [
                    {k: q[k] for k in ("code", "text", "kind", "choices")} for q in m.questions
                ],
            }
            for m in modules
        ]
        return Response(ModuleSerializer(data, many=True).data)


class AttemptCreateView(APIView):
    throttle_classes = [UserRateThrottle]

    @extend_schema(
        tags=[TAG],
        summary="Répondre au quiz d'un module",
        description="Enregistre une tentative et renvoie le score, la correction de chaque "
        "question avec son explication et, si le quiz est réussi, l'attestation. Une question "
        "sans réponse, une réponse hors des choix ou une question inconnue : 400, "
        "error.details donnant le message par code de question.",
        request=AttemptCreateSerializer,
        responses={
            201: OpenApiResponse(AttemptResultSerializer, description="La tentative notée."),
            **errors(400, 401, 403, 404),
        },
    )
    def post(self, request, code: str):
        module = sel.get_module(request.user, code)
        serializer = AttemptCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organisation = None
        if "organisation" in serializer.validated_data:
            wanted = serializer.validated_data["organisation"]
            organisation = next(
                (o for o in perms.learner_organisations(request.user) if o.pk == wanted), None
            )
            if organisation is None:
                raise exceptions.ValidationError(
                    {"organisation": ["Choisissez l'une de vos organisations."]}
                )
        try:
            attempt = services.attempt_submit(
                actor=request.user,
                module=module,
                answers=serializer.validated_data["answers"],
                organisation=organisation,
            )
        except services.QuizAnswerError as exc:
            raise exceptions.ValidationError(
                {key: [message] for key, message in exc.errors.items()}
            ) from exc
        certificate = getattr(attempt, "certificate", None) if attempt.passed else None
        data = {
            "id": attempt.pk,
            "module": module.code,
            "module_version": attempt.module_version,
            "score": attempt.score,
            "correct_count": attempt.correct_count,
            "question_count": attempt.question_count,
            "pass_mark": attempt.pass_mark,
            "passed": attempt.passed,
            "submitted_at": attempt.submitted_at,
            "questions": attempt.answers,
            "certificate_code": certificate.code if certificate else None,
            "certificate_url": request.build_absolute_uri(
                reverse("awareness:certificate_pdf", args=[certificate.pk])
            )
            if certificate
            else None,
            "verification_url": request.build_absolute_uri(
                reverse("awareness:certificate_verify", args=[certificate.code])
            )
            if certificate
            else None,
        }
        return Response(AttemptResultSerializer(data).data, status=status.HTTP_201_CREATED)
