"""The models behind cosmos-env: tokenizer, predict, transfer, reason. No gymnasium here."""
