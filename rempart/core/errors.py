class DomainError(Exception):
    """A refused action. `message` is French and shown to the user as is; `code` is for the API."""

    def __init__(self, message: str, *, code: str = "refused", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class DataFilesError(DomainError):
    """Versioned reference-data files (YAML) that cannot be loaded; nothing was written.
    `errors` lists each problem; subclasses name the files in `subject`."""

    subject = "Les fichiers de données"
    error_code = "data_files_invalid"

    def __init__(self, errors: list[str]):
        count = len(errors)
        summary = (
            f"{self.subject} contiennent une erreur"
            if count == 1
            else f"{self.subject} contiennent {count} erreurs"
        )
        super().__init__(
            f"{summary} ; rien n'a été enregistré.\n" + "\n".join(f"- {e}" for e in errors),
            code=self.error_code,
        )
        self.errors = errors
