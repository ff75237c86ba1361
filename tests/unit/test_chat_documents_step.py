"""The documents step's rules, without an engine: which turns the documents prompt sees, how
many passages "Use more passages" may ask for, and what the answer waits for in words. (The
step with the real embedding model and engine is in test_documents_answers.py and
test_documents_summarise.py, through the session.)"""

from __future__ import annotations

from app.core.chat import documents_step as docs
from app.core.chat.store import STATUS_COMPLETE, STATUS_ERROR, Message


def message(id: int, role: str, content: str, status: str = STATUS_COMPLETE, **stats: object) -> Message:
    return Message(id, 1, role, content, status, 0.0, stats=dict(stats))


def test_no_collections_no_documents_step() -> None:
    history = [message(1, "user", "hello")]
    assert docs.passage_request(history, [], 4096, 512, "") is None
    assert docs.passage_request(history, ["", ""], 4096, 512, "") is None  # empty names skipped


def test_the_request_takes_the_last_question_and_the_good_earlier_turns() -> None:
    history = [
        message(1, "user", "first"),
        message(2, "assistant", "failed half", status=STATUS_ERROR),
        message(3, "user", "second"),
        message(4, "assistant", "   "),
        message(5, "assistant", "an answer"),
        message(6, "user", "the question"),
    ]
    request = docs.passage_request(history, ["Notes", ""], 2048, 256, "Be brief.", scale=2)
    assert request is not None
    assert request.question == "the question"
    assert request.collections == ["Notes"]
    assert request.earlier == [
        {"role": "user", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "an answer"},
    ]
    assert (request.n_ctx, request.answer_tokens, request.system_prompt, request.scale) == (
        2048,
        256,
        "Be brief.",
        2,
    )


def test_more_passages_doubles_up_to_the_limit_and_needs_sources() -> None:
    sources = [{"number": 1, "file": "/a.txt"}]
    assert docs.passage_scale(message(1, "assistant", "x")) == 1
    assert not docs.can_use_more_passages(message(1, "assistant", "x"))  # no sources: nothing to widen
    assert docs.can_use_more_passages(message(1, "assistant", "x", sources=sources))
    at_two = message(1, "assistant", "x", sources=sources, passage_scale=2)
    assert docs.passage_scale(at_two) == 2 and docs.can_use_more_passages(at_two)
    at_max = message(1, "assistant", "x", sources=sources, passage_scale=docs.MAX_PASSAGE_SCALE)
    assert not docs.can_use_more_passages(at_max)


def test_what_the_answer_waits_for_and_keeps() -> None:
    assert docs.first_waiting_sentence(True) == "Looking through your documents…"
    assert docs.first_waiting_sentence(False) == "Reading your question…"
    none = docs.Passages([], [], None)
    assert none.waiting_sentence() == "Reading your question…" and none.extra_stats() == {}
    found = docs.Passages([], [{"file": "/a.txt"}, {"file": "/a.txt"}, {"file": "/b.txt"}], "a note", scale=2)
    assert found.waiting_sentence() == "Reading your question and 3 passages from 2 documents…"
    assert found.extra_stats() == {docs.PASSAGE_SCALE_KEY: 2}


def test_a_summary_question_names_its_file() -> None:
    question, stats = docs.summary_question("/home/me/report.pdf")
    assert question == "Summarise report.pdf"
    asked = message(1, "user", question, **stats)
    assert docs.summary_asked([asked]) == "/home/me/report.pdf"
    assert docs.summary_asked([message(1, "user", "hello")]) == ""
    assert docs.summary_asked([]) == ""


def test_the_collection_choice_in_a_conversations_settings() -> None:
    settings = {"temperature": 0.2}
    chosen = docs.with_collections(settings, ["Notes", "Contracts"])
    assert settings == {"temperature": 0.2}  # a copy: the conversation's own dict is not changed
    assert chosen == {"temperature": 0.2, "collections": ["Notes", "Contracts"]}
    assert docs.collections_in(chosen) == ["Notes", "Contracts"]
    assert docs.collections_in(settings) == []
