"""Where a typed endpoint parameter comes from, and the constraints its value must meet.

Put a marker in ``Annotated``: ``page: Annotated[int, Query(ge=1)] = 1``,
``x_token: Annotated[str, Header()]``, ``avatar: Annotated[UploadFile, File()]``. Without a
marker, the binder decides from the signature (``microasgi.endpoints``): a name in the path
is a path parameter, a dataclass, ``TypedDict`` or model is the JSON body, anything else of
a simple type is a query parameter. ``Field`` carries constraints alone, for the fields of a
dataclass or ``TypedDict`` body.
"""

from typing import Any, Literal

Source = Literal["path", "query", "header", "cookie", "body", "form", "file"]


class Field:
    """Constraints on a value (and its documentation), checked after conversion.

    Args:
        ge, le, gt, lt: bounds of a number (or of a date, a Decimal...).
        min_length, max_length: bounds of the length of a string, bytes or list.
        pattern: a regular expression the whole string must match.
        alias: the name the value has in the request, when not the parameter's own.
        description: a sentence for the OpenAPI document.
        example: an example value for the OpenAPI document.
    """

    source: Source | None = None

    def __init__(
        self,
        *,
        alias: str | None = None,
        ge: Any = None,
        le: Any = None,
        gt: Any = None,
        lt: Any = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        description: str | None = None,
        example: Any = None,
    ) -> None:
        self.alias = alias
        self.ge = ge
        self.le = le
        self.gt = gt
        self.lt = lt
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern
        self.description = description
        self.example = example

    def __repr__(self) -> str:
        shown = {key: value for key, value in vars(self).items() if value is not None}
        arguments = ", ".join(f"{key}={value!r}" for key, value in shown.items())
        return f"{type(self).__name__}({arguments})"


class Path(Field):
    """A path parameter: ``{name}`` in the route's path (constraints, docs)."""

    source: Source | None = "path"


class Query(Field):
    """A query-string parameter; ``list[T]`` reads every repeat of the key."""

    source: Source | None = "query"


class Header(Field):
    """A request header; ``x_token`` reads ``x-token`` unless ``alias`` names it."""

    source: Source | None = "header"


class Cookie(Field):
    """A cookie of the request."""

    source: Source | None = "cookie"


class Body(Field):
    """The JSON body (the whole body when it is the only body parameter, else its key)."""

    source: Source | None = "body"


class Form(Field):
    """A field of a form body (urlencoded or multipart), or the whole form as a dataclass
    or ``TypedDict``."""

    source: Source | None = "form"


class File(Field):
    """An uploaded file of a multipart body: annotate it ``UploadFile``."""

    source: Source | None = "file"
