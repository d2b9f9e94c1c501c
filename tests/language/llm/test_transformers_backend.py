"""The transformers backend on a tiny random Llama saved to a local folder (offline, seconds)."""

import pytest

from lafg.language.llm import create_llm


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from lafg.language.llm.bundled import bundled_gguf_path

    path = bundled_gguf_path()
    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)  # SmolLM2's tokenizer + chat template
    tok.save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out


@pytest.mark.slow
def test_transformers_local_folder_chat_and_batch(tiny_model_dir):
    llm = create_llm("transformers", model=str(tiny_model_dir))
    loaded = llm.load()
    assert loaded.chat is True  # the saved tokenizer keeps its chat template
    one = llm.generate("Describe a robin.", max_new_tokens=6)
    batch = llm.generate_batch(["Describe a robin.", "Describe a much longer class name, please."], max_new_tokens=6)
    assert isinstance(one, str) and len(batch) == 2
    assert batch[0] == one  # greedy + left padding: the same answer alone or in a batch
    assert 0 < llm.tokens_generated <= 18
