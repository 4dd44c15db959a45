"""Follow-up questions are rewritten into standalone ones before retrieval."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rag.answer import Answer
from rag.chat import LLMRewriter, Turn, names_in, rewrite
from rag.cli import cli
from rag.conversation import Conversation
from rag.prompts import load_prompt

from .conftest import ScriptedLLM, fakes, write


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What did he say about Japan?", "What did Austin say about Japan?"),
        ("Who called him?", "Who called Austin?"),
        ("What about Kishi?", "What did Austin say about Kishi?"),
        ("And Taiwan?", "What did Austin say about Taiwan?"),
        ("And about Taiwan?", "What did Austin say about Taiwan?"),
        ("And what did Kishi say?", "And what did Kishi say?"),
        ("Which missile did North Korea test?", "Which missile did North Korea test?"),
        ("What did Austin tell Kishi?", "What did Austin tell Kishi?"),
        # a short question that asks its own question is left alone (exploratory run)
        ("Who is Smits?", "Who is Smits?"),
        # a bare question word asks the previous question that way (exploratory run: "Why?"
        # was searched as it was, and refused)
        ("Why?", "Why did Austin say?"),
    ],
)
def test_rewrite_carries_the_previous_subject(question: str, expected: str) -> None:
    assert rewrite(question, "What did Austin say?") == expected


def test_rewrite_neither_takes_auxiliaries_for_names_nor_piles_up_topics() -> None:
    """Found by an exploratory run: "Can I cancel Tidepool?" then "How much does it cost?"
    searched for "How much does Can cost?", and each "And X?" added another "about"."""
    assert names_in("Can I cancel Tidepool at any time?") == ["Tidepool"]
    assert names_in("Should Kim sign it?") == ["Kim"]
    previous = "Can I cancel Tidepool at any time?"
    assert rewrite("How much does it cost?", previous) == "How much does Tidepool cost?"
    assert rewrite("And Korea?", "What did Austin say about Taiwan?") == (
        "What did Austin say about Korea?"
    )
    assert rewrite("And Korea?", "What did Austin say?") == "What did Austin say about Korea?"


def test_and_x_asks_what_x_said_when_x_speaks_in_the_documents() -> None:
    """Found by an exploratory run: "And Thomas Becker?" after "What did Lena Vogel say?" was
    read as a topic ("... say about Thomas Becker?") though Becker is quoted himself."""

    def speaks(name: str) -> bool:
        return name in {"Thomas Becker", "Kishi", "Vogel", "Lena Vogel"}

    previous = "What did Lena Vogel say?"
    assert rewrite("And Thomas Becker?", previous, speaks) == "What did Thomas Becker say?"
    assert rewrite("What about Kishi?", "What did Austin say about Japan?", speaks) == (
        "What did Kishi say about Japan?"
    )
    # a place, or a name asked "about", stays a topic of the same speaker
    assert rewrite("And Taiwan?", previous, speaks) == "What did Lena Vogel say about Taiwan?"
    assert rewrite("And about Kishi?", previous, speaks) == "What did Lena Vogel say about Kishi?"


def test_and_x_asks_another_question_of_x() -> None:
    """ "Where was Becker born?" then "And Vogel?" used to search for "Where was Becker born
    about Vogel?"; the question is asked of the new name, in place of the one of its kind."""
    assert rewrite("And Vogel?", "Where was Becker born?") == "Where was Vogel born?"
    assert rewrite("And Leiden?", "How many people live in Utrecht?") == (
        "How many people live in Leiden?"
    )
    assert rewrite("And Korea?", "When did Austin visit Japan?") == "When did Austin visit Korea?"

    def speaks(name: str) -> bool:
        return name in {"Austin", "Vogel"}

    assert rewrite("And Vogel?", "When did Austin visit Japan?", speaks) == (
        "When did Vogel visit Japan?"
    )


def test_why_and_when_follow_ups_ask_the_previous_question_again() -> None:
    """Exploratory run: "Why?" was never rewritten (three refusals in three chats); "And in
    2020?" became "... get about in 2020?" and "What about last year?" "... say about last
    year?"."""
    previous = "What did Reardon say about the flood?"
    assert rewrite("Why?", previous) == "Why did Reardon say about the flood?"
    assert rewrite("How so?", previous) == "Why did Reardon say about the flood?"
    assert rewrite("Why?", "Did Austin visit Japan?") == "Why did Austin visit Japan?"
    assert rewrite("Why?", "How many votes did Chen get?") == (
        "Why: How many votes did Chen get?"  # every word of it kept
    )
    assert rewrite("And in 2020?", "How many votes did Chen get?") == (
        "How many votes did Chen get in 2020?"
    )
    assert rewrite("What about last year?", "What was Norvane's profit in 2024?") == (
        "What was Norvane's profit last year?"
    )
    assert rewrite("Why?", None) == "Why?"
    assert rewrite("In 2020, who won?", "How many votes did Chen get?") == "In 2020, who won?"
    # 2,500 characters of junk after a 2,000-character question was glued onto it
    assert rewrite("x" * 2500, "How do I change the port?") == "x" * 2500
    assert rewrite("And " + "x" * 100, "What did Austin say?") == "And " + "x" * 100


def test_first_question_is_left_alone_and_names_are_found() -> None:
    assert rewrite("What did he say?", None) == "What did he say?"
    assert names_in("What did Lloyd Austin tell Japan?") == ["Lloyd Austin", "Japan"]


def _send(chat: Conversation, question: str) -> Turn:
    chat.ask(question)
    return chat.turns[-1]


def test_conversation_uses_the_rewritten_question(index, tmp_path) -> None:
    write(tmp_path / "d" / "a.txt", "Austin said the alliance with Japan is ironclad. " * 2)
    write(tmp_path / "d" / "b.txt", "Mattis spoke about budgets and ships.")
    index.ingest([tmp_path / "d"])
    chat = Conversation(index)
    first = _send(chat, "What did Austin say?")
    assert first.standalone == "What did Austin say?" and first.answer.standalone_question is None
    second = _send(chat, "What did he say about Japan?")
    assert second.standalone == "What did Austin say about Japan?"
    assert second.answer.standalone_question == second.standalone
    assert second.answer.question == second.standalone
    assert [t.question for t in chat.turns] == [
        "What did Austin say?",
        "What did he say about Japan?",
    ]


def test_conversation_reads_who_speaks_from_the_index(index, tmp_path) -> None:
    write(
        tmp_path / "d" / "a.txt",
        "Lena Vogel said the harbour will reopen in May. Thomas Becker, the port's director, "
        "warned of delays. Becker said the cranes need repairs. Rotterdam ships wait.",
    )
    index.ingest([tmp_path / "d"])
    chat = Conversation(index)
    assert chat.speaks("Thomas Becker") and chat.speaks("Lena Vogel")
    assert not chat.speaks("Rotterdam") and not chat.speaks("Utrecht")
    _send(chat, "What did Lena Vogel say?")
    assert _send(chat, "And Thomas Becker?").standalone == "What did Thomas Becker say?"
    assert _send(chat, "And Rotterdam?").standalone == "What did Thomas Becker say about Rotterdam?"


def test_cli_chat_shows_the_standalone_question(tmp_path) -> None:
    write(tmp_path / "d" / "a.txt", "Austin said the alliance with Japan is ironclad.")
    index = str(tmp_path / "idx")
    runner = CliRunner()
    ingest = ["--index", index, "ingest", "-q", str(tmp_path / "d")]
    assert runner.invoke(cli, ingest, obj=fakes()).exit_code == 0
    res = runner.invoke(
        cli,
        ["--index", index, "chat"],
        input="What did Austin say?\nWhat did he say about Japan?\n",
        obj=fakes(),
    )
    assert res.exit_code == 0, res.output
    assert "(searching for: What did Austin say about Japan?)" in res.output
    assert res.output.count("Sources:") + res.output.count("could not find") == 2


def _turn(standalone: str) -> Turn:
    answer = Answer(standalone, "Austin said the commitment is ironclad.", [], [], False, "x")
    return Turn(standalone, standalone, answer)


def test_a_language_model_rewrites_follow_ups_when_its_output_is_a_question() -> None:

    llm = ScriptedLLM("What did Lloyd Austin say about Japan?\nAnd more text")
    rewriter = LLMRewriter(llm, load_prompt("rewrite"))
    assert rewriter("What did he say about Japan?", [_turn("What did Austin say?")]) == (
        "What did Lloyd Austin say about Japan?"
    )
    sent = llm.prompts[0]
    assert "What did Austin say?" in sent.user and "ironclad" in sent.user
    assert rewriter("First question?", []) == "First question?"  # nothing to rewrite
    assert len(llm.prompts) == 1 and rewriter.fallbacks == 0


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "I could not find this in your documents.",
        "Austin said that the alliance with Japan is the cornerstone of peace and stability in "
        "the region and that the commitment of the United States is ironclad and unwavering.",
        "Sure!",
    ],
)
def test_a_bad_model_rewrite_falls_back_to_the_rules(reply: str) -> None:

    rewriter = LLMRewriter(ScriptedLLM(reply), load_prompt("rewrite"))
    out = rewriter("What did he say about Japan?", [_turn("What did Austin say?")])
    assert out == "What did Austin say about Japan?" and rewriter.fallbacks == 1
