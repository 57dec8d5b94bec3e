"""Reason-VLM: a pretrained vision-language model as a second critic of short clips.

:class:`VLMCritic` drives a ``transformers`` VLM such as Cosmos-Reason1 (a Qwen2.5-VL
fine-tune) to judge clips of rendered frames (uint8 ``(T, H, W, 3)``, passed as separate
images in one user message): yes/no questions ("Has the robot fallen over?") and a 0-100
physical-plausibility score. Too slow for the training loop.

- yes/no answers are read from the next-token logits of one forward pass ("yes" tokens
  against "no" tokens), so there is no text to parse;
- the plausibility score is decoded greedily, constrained to "0" to "100" then
  end-of-sequence, so it always parses;
- text parsed all the same (``constrain=False``, :func:`parse_score`, :func:`parse_yes_no`)
  raises :class:`VLMAnswerError` with the raw text when malformed, or gives NaN when asked.

Loading is offline by default: an id that is neither a local directory nor in the cache
raises :class:`VLMUnavailableError`.
"""

from __future__ import annotations

import math
import os
import re
import string
from typing import Any

import numpy as np
import torch

PLAUSIBILITY_QUESTION = (
    "Is the motion in this clip physically plausible? "
    "Answer with a number from 0 (impossible) to 100 (certainly plausible)."
)
YES_NO_SUFFIX = " Answer yes or no."
DEFAULT_QUESTIONS = {"fallen": "Has the robot fallen over?"}
YES_WORDS, NO_WORDS = ("yes", "Yes", "YES"), ("no", "No", "NO")


class VLMUnavailableError(RuntimeError):
    """The model cannot be loaded: not a local directory and not reachable on the hub."""


class VLMAnswerError(ValueError):
    """The model's answer does not parse; the message holds the raw text."""


_INTEGER = re.compile(r"(?<!\w)-?\d+(?!\w)")  # a standalone integer: "42" in "Score: 42." but not in "a42b"


def parse_score(text: str) -> int:
    """The first standalone integer in ``text``, which must lie in 0..100."""
    match = _INTEGER.search(text)
    if match is None or not 0 <= int(match.group()) <= 100:
        raise VLMAnswerError(f"expected a score from 0 to 100, got {text!r}")
    return int(match.group())


def parse_yes_no(text: str) -> bool:
    """True for an answer whose first word is "yes", False for "no" (any case, punctuation stripped)."""
    first = text.split(maxsplit=1)[0].strip(string.punctuation).lower() if text.strip() else ""
    if first not in ("yes", "no"):
        raise VLMAnswerError(f"expected an answer starting with yes or no, got {text!r}")
    return first == "yes"


def _valid_score(digits: str) -> bool:
    return str(int(digits)) == digits and int(digits) <= 100  # no leading zero, at most 100


class VLMCritic:
    """Judges clips with a ``transformers`` VLM (model + processor with a chat template).

    Raises ValueError if the tokenizer has no single token for yes, no or each digit, or
    no end-of-sequence token is named."""

    def __init__(self, model: Any, processor: Any, max_new_tokens: int = 8) -> None:
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.max_new_tokens = max_new_tokens
        self.yes_ids = [i for i in map(self._single_token, YES_WORDS) if i is not None]
        self.no_ids = [i for i in map(self._single_token, NO_WORDS) if i is not None]
        self.digit_ids = [self._single_token(str(d)) for d in range(10)]
        missing = [
            name
            for name, ok in (("yes", self.yes_ids), ("no", self.no_ids), ("each digit", None not in self.digit_ids))
            if not ok
        ]
        if missing:
            raise ValueError(
                f"the tokenizer has no single token for {', '.join(missing)}: "
                "yes_probability and constrained plausibility need them"
            )
        eos = model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        self.eos_ids = sorted({eos} if isinstance(eos, int) else set(eos or ()))
        if not self.eos_ids:
            raise ValueError("neither the generation config nor the tokenizer names an end-of-sequence token")

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        local_files_only: bool = True,
    ) -> VLMCritic:
        """Loads e.g. ``nvidia/Cosmos-Reason1-7B``; ``dtype`` None keeps the checkpoint's.

        Offline by default: pass a local directory with the downloaded weights, or set
        ``local_files_only=False`` where the hub can be reached."""
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(name_or_path, local_files_only=local_files_only)
            model = AutoModelForImageTextToText.from_pretrained(
                name_or_path, dtype="auto" if dtype is None else dtype, local_files_only=local_files_only
            )
        except OSError as error:
            if os.path.isdir(name_or_path):
                raise
            raise VLMUnavailableError(
                f"cannot load the VLM {name_or_path!r}: it is not a local directory and its files are neither in "
                f"the cache nor reachable (the hub cannot be reached, or local_files_only={local_files_only}); "
                f"pass a local directory with the downloaded weights ({error})"
            ) from error
        return cls(model.to(device), processor)

    def _single_token(self, word: str) -> int | None:
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        if len(ids) == 1 and ids[0] != self.tokenizer.unk_token_id and self.tokenizer.decode(ids).strip() == word:
            return ids[0]
        return None

    def _inputs(self, frames: np.ndarray, text: str) -> Any:
        """The chat prompt (the clip's frames as images, then ``text``), processed for the model."""
        from PIL import Image

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
        images = [Image.fromarray(frame) for frame in frames]
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
        prompt = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
        )
        return self.processor(text=[prompt], images=images, return_tensors="pt").to(self.model.device)

    @torch.inference_mode()
    def yes_probability(self, frames: np.ndarray, question: str) -> float:
        """P(yes) from the first answer token's logits: logsumexp over the yes tokens against the no tokens."""
        logits = self.model(**self._inputs(frames, question + YES_NO_SUFFIX), logits_to_keep=1).logits[0, -1].float()
        return torch.sigmoid(logits[self.yes_ids].logsumexp(0) - logits[self.no_ids].logsumexp(0)).item()

    def _score_prefix(self, prompt_len: int):
        """Allowed next tokens: a digit that keeps the answer a valid score, or end-of-sequence after one."""
        digit_of = {token: str(d) for d, token in enumerate(self.digit_ids)}

        def allowed(batch_id: int, ids: torch.Tensor) -> list[int]:
            answer = "".join(digit_of[int(token)] for token in ids[prompt_len:])
            nxt = [token for d, token in enumerate(self.digit_ids) if _valid_score(answer + str(d))]
            return nxt + (self.eos_ids if answer else [])

        return allowed

    @torch.inference_mode()
    def plausibility(self, frames: np.ndarray, on_malformed: str = "raise", constrain: bool = True) -> float:
        """The model's 0-100 plausibility score for the clip, divided by 100.

        ``constrain`` restricts decoding to a valid score ("0" to "100"); without it a
        malformed answer raises :class:`VLMAnswerError`, or returns NaN with ``on_malformed="nan"``."""
        if on_malformed not in ("raise", "nan"):
            raise ValueError(f"on_malformed must be 'raise' or 'nan', got {on_malformed!r}")
        inputs = self._inputs(frames, PLAUSIBILITY_QUESTION)
        n = inputs["input_ids"].shape[1]
        pad = self.tokenizer.pad_token_id
        out = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            eos_token_id=self.eos_ids,
            pad_token_id=self.eos_ids[0] if pad is None else pad,
            prefix_allowed_tokens_fn=self._score_prefix(n) if constrain else None,
        )
        text = self.tokenizer.decode(out[0, n:], skip_special_tokens=True)
        try:
            return parse_score(text) / 100
        except VLMAnswerError:
            if on_malformed == "nan":
                return math.nan
            raise

    def judge(
        self, frames: np.ndarray, questions: dict[str, str] | None = None, on_malformed: str = "raise"
    ) -> dict[str, float]:
        """Each question's yes-probability (default :data:`DEFAULT_QUESTIONS`) plus ``plausibility``."""
        questions = DEFAULT_QUESTIONS if questions is None else questions
        if "plausibility" in questions:
            raise ValueError("'plausibility' is reserved for the plausibility score")
        scores = {name: self.yes_probability(frames, question) for name, question in questions.items()}
        scores["plausibility"] = self.plausibility(frames, on_malformed=on_malformed)
        return scores
