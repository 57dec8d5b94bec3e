"""VLMCritic on a tiny random-weight Qwen2.5-VL built here: no download, a few seconds on CPU."""

import math
import re

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import (  # noqa: E402
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,  # noqa: E402
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil  # noqa: E402

from worldmodels.reason_vlm import (
    DEFAULT_QUESTIONS,
    PLAUSIBILITY_QUESTION,
    YES_NO_SUFFIX,
    VLMAnswerError,  # noqa: E402
    VLMCritic,
    VLMUnavailableError,
    parse_score,
    parse_yes_no,
)

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Renders images the way Qwen2.5-VL's own template does; the processor expands <|image_pad|> per image.
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _Processor(Qwen2_5_VLProcessor):
    """transformers 5.23 cannot check (nor build) a video processor without torchvision; images need none."""

    def check_argument_for_proper_class(self, argument_name, argument):
        if argument_name == "video_processor" and argument is None:
            return None
        return super().check_argument_for_proper_class(argument_name, argument)


def tokenizer(words=("yes", "Yes", "no", "No")):
    """A word-level tokenizer over the prompts' words, single digits and Qwen's special tokens ("YES" is unknown)."""
    prompt_words = re.findall(
        r"\w+|[^\w\s]+", " ".join([PLAUSIBILITY_QUESTION, YES_NO_SUFFIX, *DEFAULT_QUESTIONS.values()])
    )
    vocab = dict.fromkeys(["[UNK]", *words, *"0123456789", "user", "assistant", "robot", *prompt_words, *SPECIAL])
    vocab = [w for w in vocab if w.lower() not in ("yes", "no") or w in words]  # the prompts say "yes or no"
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.decoder = decoders.Fuse()  # "4", "2" decode to "42"
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL,
    )


def tiny_vlm(tok, seed=0):
    ids = tok.convert_tokens_to_ids
    text = dict(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
        pad_token_id=ids("<|endoftext|>"),
        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
    )
    vision = dict(
        depth=1,
        hidden_size=16,
        intermediate_size=32,
        num_heads=2,
        out_hidden_size=32,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        fullatt_block_indexes=[0],
    )
    config = Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config)


def processor(tok):
    images = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=56 * 56)  # 64x64 -> 56x56: 4 tokens per frame
    return _Processor(image_processor=images, tokenizer=tok, video_processor=None, chat_template=TEMPLATE)


@pytest.fixture(scope="module")
def critic():
    tok = tokenizer()
    return VLMCritic(tiny_vlm(tok), processor(tok))


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)


def boost(critic, *words, by=100.0):
    """Adds ``by`` to the logits of ``words``: a model that prefers them. Returns the hook's handle."""
    token_ids = [critic.tokenizer.convert_tokens_to_ids(w) for w in words]

    def hook(module, args, output):
        output[..., token_ids] += by
        return output

    return critic.model.lm_head.register_forward_hook(hook)


def test_yes_probability_and_judge(critic, frames):
    tok = critic.tokenizer
    assert critic.yes_ids == tok.convert_tokens_to_ids(["yes", "Yes"])  # "YES" is [UNK] here: left out
    assert critic.no_ids == tok.convert_tokens_to_ids(["no", "No"])
    inputs = critic._inputs(frames, "Has the robot fallen over?")
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]] * 2
    assert (inputs["input_ids"] == critic.model.config.image_token_id).sum() == 2 * 4
    p = critic.yes_probability(frames, "Has the robot fallen over?")
    assert isinstance(p, float) and 0.0 < p < 1.0
    for words, check in ((("yes", "Yes"), lambda q: q > 0.999), (("No",), lambda q: q < 0.001)):
        handle = boost(critic, *words)
        try:
            assert check(critic.yes_probability(frames, "Has the robot fallen over?"))
        finally:
            handle.remove()
    scores = critic.judge(frames, {"fallen": "Has the robot fallen over?", "flying": "Is the robot flying?"})
    assert set(scores) == {"fallen", "flying", "plausibility"} and all(0.0 <= v <= 1.0 for v in scores.values())
    assert scores["fallen"] == pytest.approx(p)
    assert set(critic.judge(frames)) == {*DEFAULT_QUESTIONS, "plausibility"}
    with pytest.raises(ValueError, match="uint8"):
        critic.yes_probability(frames.astype(np.float32), "Has the robot fallen over?")


def test_constraint_allows_exactly_the_scores_0_to_100(critic):
    """Walks every path the constraint allows: each ends in end-of-sequence on a score from "0" to "100"."""
    allowed, eos = critic._score_prefix(prompt_len=0), set(critic.eos_ids)
    digit = {token: str(d) for d, token in enumerate(critic.digit_ids)}
    finished, stack = [], [[]]
    while stack:
        path = stack.pop()
        for token in allowed(0, torch.tensor(path, dtype=torch.long)):
            if token in eos:
                finished.append("".join(digit[t] for t in path))
            else:
                stack.append(path + [token])
    assert sorted(finished, key=int) == [str(s) for s in range(101)]


def test_plausibility_constrained_always_parses(critic, frames):
    score = critic.plausibility(frames)
    assert 0.0 <= score <= 1.0 and score * 100 == pytest.approx(round(score * 100))
    handle = boost(critic, "robot")  # a model that would only babble "robot"
    try:
        assert 0.0 <= critic.plausibility(frames) <= 1.0
    finally:
        handle.remove()


def test_plausibility_unconstrained_malformed_raises_or_nan(critic, frames):
    handle = boost(critic, "robot")
    try:
        with pytest.raises(VLMAnswerError, match="robotrobot"):  # the raw answer is in the message
            critic.plausibility(frames, constrain=False)
        assert math.isnan(critic.plausibility(frames, on_malformed="nan", constrain=False))
        assert 0.0 <= critic.judge(frames, on_malformed="nan")["plausibility"] <= 1.0  # constrained: valid
    finally:
        handle.remove()
    with pytest.raises(ValueError, match="on_malformed"):
        critic.plausibility(frames, on_malformed="zero")


@pytest.mark.parametrize("text, score", [("87", 87), ("Score: 42.", 42), ("100", 100), ("0", 0), (" 7/10", 7)])
def test_parse_score(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize("text, answer", [(" yes.", True), ("No, it has not", False), ("YES", True), ("**no**", False)])
def test_parse_yes_no(text, answer):
    assert parse_yes_no(text) is answer


@pytest.mark.parametrize("text", ["maybe", "150", "", "-3", "about a42b", "yesterday"])
def test_parse_malformed_raises_with_text(text):
    for parse in (parse_score, parse_yes_no):
        with pytest.raises(VLMAnswerError) as error:
            parse(text)
        assert repr(text) in str(error.value)


def test_tokenizer_without_yes_no_tokens_is_refused(critic):
    tok = tokenizer(words=("si", "non"))
    with pytest.raises(ValueError, match="no single token for yes, no"):
        VLMCritic(critic.model, processor(tok))


def test_from_pretrained_offline_names_the_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(VLMUnavailableError, match=r"nvidia/Cosmos-Reason1-7B.*local directory"):
        VLMCritic.from_pretrained("nvidia/Cosmos-Reason1-7B")
