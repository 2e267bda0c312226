from django.urls import include, path

app_name = "awareness"

urlpatterns = [
    # E-learning modules, quizzes, results and certificates (learners).
    path("", include("rempart.awareness.learning_urls")),
    # Escape-game sessions recorded by the CRRC.
    path("escape-games/", include("rempart.awareness.escape_urls")),
]
urlpatterns += [
    # Results for managers (learning and escape-game participation).
    path("resultats/", include("rempart.awareness.figures_urls")),
]
