class DomainError(Exception):
    """A refused action. `message` is French and shown to the user as is; `code` is for the API."""

    def __init__(self, message: str, *, code: str = "refused", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
