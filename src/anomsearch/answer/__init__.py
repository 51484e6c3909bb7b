"""The LHC Olympics black-box answer: build, check, write and score it
(:mod:`anomsearch.answer.submission`), from the resonance fit
(:mod:`anomsearch.answer.resonance_fit`) and the daughter-jet masses
(:mod:`anomsearch.answer.daughter_masses`) of a finished search."""

from __future__ import annotations

from anomsearch.answer.submission import (
    ANSWER_SCHEMA_VERSION,
    AnswerFiles,
    Measurement,
    QuantityScore,
    SubmissionScore,
    answer_from_results,
    answer_schema,
    build_answer,
    build_answer_details,
    format_answer_text,
    format_submission_score,
    load_answer,
    load_key,
    p_value_threshold,
    score_submission,
    submit,
    validate_answer,
    validate_key,
    write_answer,
)

__all__ = [
    "ANSWER_SCHEMA_VERSION",
    "AnswerFiles",
    "Measurement",
    "QuantityScore",
    "SubmissionScore",
    "answer_from_results",
    "answer_schema",
    "build_answer",
    "build_answer_details",
    "format_answer_text",
    "format_submission_score",
    "load_answer",
    "load_key",
    "p_value_threshold",
    "score_submission",
    "submit",
    "validate_answer",
    "validate_key",
    "write_answer",
]
