"""Rules of docs/design.md that the code itself must follow, checked on the source.

1. A view never queries a model through its manager (`Model.objects`, `_default_manager`,
   `_base_manager`): it calls a selector or a core access helper that scopes by the acting
   user's memberships. The rule covers every model, so nobody has to decide whether a new
   model is "tenant-owned" before writing a view.
2. Making a view public (`login_not_required`, `login_required = False`, DRF's `AllowAny`)
   is a visible decision: the view must be listed in PUBLIC_VIEWS below.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "rempart"

MANAGER_ATTRIBUTES = {"objects", "_default_manager", "_base_manager"}

# (file relative to the repository, view name): why anyone may open it without logging in.
PUBLIC_VIEWS = {
    ("rempart/core/views.py", "healthz"): "probe of the load balancer, answers ok / error only",
    (
        "rempart/organisations/views.py",
        "invitation_accept",
    ): "the signed, expiring link of the e-mail",
    (
        "rempart/incidents/paging_views.py",
        "acknowledge_link",
    ): "the signed, expiring acknowledgement link of a page; GET only shows a button",
    (
        "rempart/incidents/paging_views.py",
        "PagingAckApiView",
    ): "a gateway acknowledges a page with its signed token (the only credential; throttled)",
    (
        "rempart/awareness/learning_views.py",
        "certificate_verify",
    ): "the certificate's code (128 random bits) is the credential; initials, module, date only",
    (
        "rempart/events/views.py",
        "survey",
    ): "the signed survey link of a participant (192 random bits); session title and date only",
    (
        "rempart/exercises/views.py",
        "participant_page",
    ): "the signed link of an exercise participant (192 random bits); their injects only",
    # Simulated phishing: the recipient's token (192 random bits) is the only credential; a dead
    # token gets the same neutral answer (no campaign or organisation named). See tracking_views.
    **{
        ("rempart/phishing/tracking_views.py", name): reason
        for name, reason in (
            ("pixel", "the 1x1 image of the message: records 'opened', same GIF for any token"),
            ("click", "the link of the message: records 'clicked', shows the landing page"),
            ("confirm", "the landing page's script confirms a click (POST, 204 always)"),
            ("submit", "the landing page's form: field names only, then the teaching page"),
            ("teaching", "what the exercise teaches (neutral page for a dead token)"),
            ("neutral", "the neutral teaching page: names no campaign or organisation"),
            ("report", "'report this message': GET shows a button, POST records"),
            ("report_thanks", "thanks for reporting: static text"),
        )
    },
}

PUBLIC_MARKERS = {"login_not_required", "AllowAny"}


def is_view_module(path: Path) -> bool:
    relative = path.relative_to(SOURCE)
    if "migrations" in relative.parts or "tests" in relative.parts:
        return False
    return (
        path.name in ("views.py", "api.py")
        or path.name.endswith("_views.py")
        or path.parent.name == "views"
    )


VIEW_MODULES = sorted(path for path in SOURCE.rglob("*.py") if is_view_module(path))


def manager_accesses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, expression) of every `X.objects` / `X._default_manager` / `X._base_manager`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in MANAGER_ATTRIBUTES:
            found.append((node.lineno, f"{ast.unparse(node.value)}.{node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in MANAGER_ATTRIBUTES
        ):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def _names_in(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
    return names


def public_views(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, name) of every top-level view or class made public in this module."""
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        markers = set()
        for decorator in node.decorator_list:
            markers |= _names_in(decorator) & PUBLIC_MARKERS
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                # login_required = False, or permission_classes = [AllowAny]
                if isinstance(statement, ast.Assign | ast.AnnAssign):
                    targets = (
                        statement.targets
                        if isinstance(statement, ast.Assign)
                        else [statement.target]
                    )
                    target_names = {t.id for t in targets if isinstance(t, ast.Name)}
                    value = statement.value
                    if (
                        "login_required" in target_names
                        and isinstance(value, ast.Constant)
                        and value.value is False
                    ):
                        markers.add("login_required = False")
                    if value is not None:
                        markers |= _names_in(value) & {"AllowAny"}
                elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                    for decorator in statement.decorator_list:
                        markers |= _names_in(decorator) & PUBLIC_MARKERS
        if markers:
            found.append((node.lineno, node.name))
    # Module-level wrapping: `view = login_not_required(other_view)`.
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and _names_in(node.value.func) & PUBLIC_MARKERS
        ):
            found.extend((node.lineno, t.id) for t in node.targets if isinstance(t, ast.Name))
    return found


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_view_modules_are_found():
    """The rules below are only as good as the list of files they read."""
    names = {str(p.relative_to(REPO)) for p in VIEW_MODULES}
    assert "rempart/organisations/views.py" in names
    assert "rempart/core/views.py" in names


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_views_never_query_a_model_manager(path):
    violations = manager_accesses(_parse(path))
    relative = path.relative_to(REPO)
    assert not violations, (
        "A view never queries a model through its manager: call a selector or a core access helper "
        "that scopes by the acting user's memberships (docs/design.md).\n"
        + "\n".join(f"{relative}:{line}: {expression}" for line, expression in violations)
    )


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_public_views_are_a_visible_decision(path):
    relative = str(path.relative_to(REPO))
    unlisted = [
        (line, name)
        for line, name in public_views(_parse(path))
        if (relative, name) not in PUBLIC_VIEWS
    ]
    assert not unlisted, (
        "Views made public without being listed in PUBLIC_VIEWS of tests/test_code_rules.py:\n"
        + ("\n".join(f"{relative}:{line}: {name}" for line, name in unlisted))
    )


def test_public_view_list_has_no_stale_entry():
    public = {
        (str(path.relative_to(REPO)), name)
        for path in VIEW_MODULES
        for _line, name in public_views(_parse(path))
    }
    stale = set(PUBLIC_VIEWS) - public
    assert not stale, f"PUBLIC_VIEWS lists views that are not public (any more): {sorted(stale)}"


def test_checkers_catch_violations():
    """Both checkers fail on code that breaks the rules (so the tests above can fail)."""
    tree = ast.parse(
        "from django.contrib.auth.decorators import login_not_required\n"
        "from rest_framework.permissions import AllowAny\n"
        "def page(request):\n"
        "    return Organisation.objects.filter(pk=1), Membership._default_manager.all()\n"
        "@login_not_required\n"
        "def open_page(request):\n"
        "    return getattr(Invitation, 'objects').all()\n"
        "class OpenApi(APIView):\n"
        "    permission_classes = [AllowAny]\n"
        "class OpenView(View):\n"
        "    login_required = False\n"
        "wrapped = login_not_required(page)\n"
    )
    assert [line for line, _e in manager_accesses(tree)] == [4, 4, 7]
    assert [name for _l, name in public_views(tree)] == [
        "open_page",
        "OpenApi",
        "OpenView",
        "wrapped",
    ]
