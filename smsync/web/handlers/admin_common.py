"""What the administration handlers share: a form's fields with every value (checkbox
lists), the ``?done=`` notices, and a quick answer with no content."""

from __future__ import annotations

from urllib.parse import parse_qs

from smsync.edge.web import Response
from smsync.web import render
from smsync.web.request import bad_request


def form_lists(req) -> dict:
    """Every value of each field of a form POST (``req.form()`` keeps the last)."""
    req.form()  # checks the type and the encoding
    try:
        return parse_qs(req.body().decode("utf-8"), keep_blank_values=True, max_num_fields=2000)
    except ValueError:
        raise bad_request("the form has too many fields") from None


def no_content() -> Response:
    return Response(204, b"", "text/plain; charset=utf-8", dict(render.SECURITY_HEADERS))


def confirmed(form: dict) -> bool:
    """Whether a destructive form's confirmation box was ticked."""
    return form.get("confirm") == "yes"
