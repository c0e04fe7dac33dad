"""Applications: the recipes built on the library, each a module with its own ``tinygrad-llm`` subcommand.

- ``trainer.py``: the one training loop (``Trainer``, ``TrainConfig``) every recipe uses;
- ``lm.py``: character-level GPT / LSTM language models on a text (``tinygrad-llm train``);
- ``seq2seq.py``: the encoder-decoder on the dates task (``tinygrad-llm seq2seq``);
- ``finetune.py``: BERT sequence classification (``tinygrad-llm finetune``, ``classify``);
- ``pretrained.py``: SmolLM2-135M from its GGUF file (``tinygrad-llm generate --pretrained smollm2``);
- ``serve.py``: the playground in the browser (``tinygrad-llm serve``; its page in ``playground/``).

Nothing below this package imports from it.
"""
