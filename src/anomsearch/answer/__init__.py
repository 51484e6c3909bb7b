"""The LHC Olympics black-box answer: build, check, write and load it
(:mod:`anomsearch.answer.submission`), from a finished run's results
(:mod:`anomsearch.answer.from_results`) with the resonance fit
(:mod:`anomsearch.answer.resonance_fit`), the signal count in the uncut spectrum
(:mod:`anomsearch.answer.total_signal`) and the daughter-jet masses
(:mod:`anomsearch.answer.daughter_masses`), and score it against a master key
(:mod:`anomsearch.answer.scoring`)."""

from __future__ import annotations

from anomsearch.answer.from_results import answer_from_results, global_p_value, submit
from anomsearch.answer.scoring import (
    QuantityScore,
    SubmissionScore,
    format_submission_score,
    load_key,
    score_submission,
    validate_key,
)
from anomsearch.answer.submission import (
    ANSWER_SCHEMA_VERSION,
    AnswerFiles,
    Measurement,
    answer_schema,
    build_answer,
    build_answer_details,
    format_answer_text,
    load_answer,
    p_value_threshold,
    validate_answer,
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
    "global_p_value",
    "load_answer",
    "load_key",
    "p_value_threshold",
    "score_submission",
    "submit",
    "validate_answer",
    "validate_key",
    "write_answer",
]
