"""BERT/GLUE fine-tuning harness for the sls_jax stochastic line-search optimizers."""
