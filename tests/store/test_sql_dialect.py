"""The shared SQL layer's dialects: placeholder rewriting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsync.store.sql.dialect import POSTGRESQL, SQLITE

sql_text = st.text(alphabet=st.sampled_from(list("SELECT ab,=()'?\n")), max_size=80)


@given(sql_text)
def test_postgresql_placeholders_are_each_question_mark(sql):
    out = POSTGRESQL.q(sql)
    assert out.count("%s") == sql.count("?")
    assert "?" not in out
    assert out.replace("%s", "?") == sql


@given(sql_text)
def test_sqlite_keeps_the_text(sql):
    assert SQLITE.q(sql) == sql


def test_a_percent_sign_is_refused_for_postgresql():
    # psycopg would read it as a placeholder: shared SQL must not carry one.
    with pytest.raises(ValueError):
        POSTGRESQL.q("SELECT name FROM folders WHERE name LIKE 'a%'")
